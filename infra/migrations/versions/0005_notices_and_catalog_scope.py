"""notices, suppliers' communities, retired products, reasons as codes, residents' rooms

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("community_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("link", sa.String(300)),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("channels", sa.String(100), nullable=False, server_default="app"),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("read_at", UTC_TIME),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
        sa.UniqueConstraint("dedupe_key", name="uq_notices_dedupe_key"),
    )
    op.create_index("ix_notices_user", "notices", ["user_id", "id"])
    op.create_table(
        "supplier_communities",
        sa.Column("supplier_id", sa.String(64), sa.ForeignKey("suppliers.id",
                  name="fk_supplier_communities_supplier_id_suppliers"), nullable=False),
        sa.Column("community_id", sa.String(64), sa.ForeignKey("communities.id",
                  name="fk_supplier_communities_community_id_communities"), nullable=False),
        sa.PrimaryKeyConstraint("supplier_id", "community_id", name="pk_supplier_communities"),
    )
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("retired_at", UTC_TIME))
    with op.batch_alter_table("supplier_order_lines") as batch:
        batch.add_column(sa.Column("confirmed_qty", sa.Integer))
    with op.batch_alter_table("wish_outcomes") as batch:
        batch.add_column(sa.Column("code", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("params", sa.Text, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("wished_qty", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("residents") as batch:
        batch.add_column(sa.Column("room", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("residents") as batch:
        batch.drop_column("room")
    with op.batch_alter_table("wish_outcomes") as batch:
        batch.drop_column("wished_qty")
        batch.drop_column("params")
        batch.drop_column("code")
    with op.batch_alter_table("supplier_order_lines") as batch:
        batch.drop_column("confirmed_qty")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("retired_at")
    op.drop_table("supplier_communities")
    op.drop_index("ix_notices_user", "notices")
    op.drop_table("notices")
