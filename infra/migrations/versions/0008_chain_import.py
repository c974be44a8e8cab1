"""the chain import: residents' nicknames, and the chain edits already applied

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("residents") as batch:
        batch.add_column(sa.Column("aliases", sa.Text, nullable=False, server_default="[]"))
    op.create_table(
        "chain_edits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("window_id", sa.String(64), nullable=False),
        sa.Column("import_key", sa.String(300), nullable=False),
        sa.Column("wish_line_id", sa.Integer),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("qty_before", sa.Integer, nullable=False),
        sa.Column("qty_after", sa.Integer, nullable=False),
        sa.Column("entered_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("window_id", "import_key", name="uq_chain_edits_key"),
    )


def downgrade() -> None:
    op.drop_table("chain_edits")
    with op.batch_alter_table("residents") as batch:
        batch.drop_column("aliases")
