"""foundation: communities, live sessions, their items, orders

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "communities",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("community_id", sa.String(64), sa.ForeignKey("communities.id", name="fk_live_sessions_community_id_communities"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "session_items",
        sa.Column("session_id", sa.String(64), sa.ForeignKey("live_sessions.id", name="fk_session_items_session_id_live_sessions"), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("stock", sa.Integer, nullable=False),
        sa.Column("per_user_limit", sa.Integer, nullable=False),
        sa.Column("product_id", sa.String(64)),
        sa.Column("image_url", sa.String(500)),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(96), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("reserved_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.CheckConstraint("qty > 0", name="ck_orders_qty_positive"),
    )
    op.create_index("ix_orders_session_id", "orders", ["session_id"])
    op.create_index("ix_orders_user_id", "orders", ["user_id"])


def downgrade() -> None:
    op.drop_table("orders")
    op.drop_table("session_items")
    op.drop_table("live_sessions")
    op.drop_table("communities")
