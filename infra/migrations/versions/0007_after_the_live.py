"""after the live: pickup points placed and staffed, pickups with codes, points and fund ledgers,
rewards and vouchers, proxy orders and the residents' audit log

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(sa.Column("points_per_yuan", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("fund_share_bp", sa.Integer, nullable=False, server_default="1000"))
        batch.add_column(sa.Column("pickup_days", sa.Integer, nullable=False, server_default="3"))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("pickup_point_id", sa.String(64)))
        batch.add_column(sa.Column("pickup_id", sa.String(64)))
        batch.add_column(sa.Column("proxy_by", sa.String(64)))
        batch.add_column(sa.Column("collected_at", UTC_TIME))
    op.create_index("ix_orders_pickup_id", "orders", ["pickup_id"])
    with op.batch_alter_table("points_ledger") as batch:
        batch.add_column(sa.Column("community_id", sa.String(64)))
        batch.add_column(sa.Column("ref", sa.String(160)))
        batch.add_column(sa.Column("note", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("actor_id", sa.String(64)))
    with op.batch_alter_table("pickup_points") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="store"))
        batch.add_column(sa.Column("lat", sa.Float))
        batch.add_column(sa.Column("lng", sa.Float))
        batch.add_column(sa.Column("hours", sa.String(100), nullable=False, server_default=""))
        batch.add_column(sa.Column("capacity", sa.Integer))
    with op.batch_alter_table("residents") as batch:
        batch.add_column(sa.Column("pickup_point_id", sa.String(64)))
    op.create_table(
        "account_locks",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("n", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("key", name="pk_account_locks"),
    )
    op.create_table(
        "buildings",
        sa.Column("community_id", sa.String(64), sa.ForeignKey(
            "communities.id", name="fk_buildings_community_id_communities"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lng", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("community_id", "name", name="pk_buildings"),
    )
    op.create_table(
        "pickup_staff",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("community_id", sa.String(64), nullable=False),
        sa.Column("pickup_point_id", sa.String(64), sa.ForeignKey(
            "pickup_points.id", name="fk_pickup_staff_pickup_point_id_pickup_points"), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_pickup_staff"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("resident_id", sa.String(64), nullable=False),
        sa.Column("community_id", sa.String(64), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_resident", "audit_log", ["resident_id", "id"])
    op.create_table(
        "pickups",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("community_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("pickup_point_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(6), nullable=False),
        sa.Column("active_code", sa.String(6)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("ready_at", UTC_TIME),
        sa.Column("expires_at", UTC_TIME),
        sa.Column("collected_at", UTC_TIME),
        sa.Column("collected_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_pickups"),
        sa.UniqueConstraint("pickup_point_id", "active_code", name="uq_pickups_active_code"),
    )
    op.create_index("ix_pickups_user_id", "pickups", ["user_id"])
    op.create_index("ix_pickups_point_status", "pickups", ["pickup_point_id", "status", "session_id"])
    op.create_table(
        "rewards",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("community_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value_cents", sa.Integer, nullable=False, server_default="0"),
        sa.Column("stock", sa.Integer),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rewards"),
        sa.CheckConstraint("points > 0", name="ck_rewards_points_positive"),
    )
    op.create_index("ix_rewards_community_id", "rewards", ["community_id"])
    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("community_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("reward_id", sa.String(64), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("voucher_code", sa.String(16)),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("verified_at", UTC_TIME),
        sa.Column("verified_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_redemptions"),
        sa.UniqueConstraint("voucher_code", name="uq_redemptions_voucher_code"),
    )
    op.create_index("ix_redemptions_user_id", "redemptions", ["user_id"])
    op.create_table(
        "fund_entries",
        sa.Column("id", sa.String(160), nullable=False),
        sa.Column("community_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("ref", sa.String(160)),
        sa.Column("project", sa.String(200), nullable=False, server_default=""),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("actor_id", sa.String(64)),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fund_entries"),
        sa.CheckConstraint("amount_cents > 0", name="ck_fund_entries_amount_positive"),
    )
    op.create_index("ix_fund_entries_community_id", "fund_entries", ["community_id"])


def downgrade() -> None:
    for index, table in (("ix_fund_entries_community_id", "fund_entries"), ("ix_redemptions_user_id", "redemptions"),
                         ("ix_rewards_community_id", "rewards"), ("ix_pickups_point_status", "pickups"),
                         ("ix_pickups_user_id", "pickups"), ("ix_audit_log_resident", "audit_log")):
        op.drop_index(index, table)
    for table in ("fund_entries", "redemptions", "rewards", "pickups", "audit_log", "pickup_staff", "buildings",
                  "account_locks"):
        op.drop_table(table)
    with op.batch_alter_table("residents") as batch:
        batch.drop_column("pickup_point_id")
    with op.batch_alter_table("pickup_points") as batch:
        for column in ("capacity", "hours", "lng", "lat", "kind"):
            batch.drop_column(column)
    with op.batch_alter_table("points_ledger") as batch:
        for column in ("actor_id", "note", "ref", "community_id"):
            batch.drop_column(column)
    op.drop_index("ix_orders_pickup_id", "orders")
    with op.batch_alter_table("orders") as batch:
        for column in ("collected_at", "proxy_by", "pickup_id", "pickup_point_id"):
            batch.drop_column(column)
    with op.batch_alter_table("communities") as batch:
        for column in ("pickup_days", "fund_share_bp", "points_per_yuan"):
            batch.drop_column(column)
