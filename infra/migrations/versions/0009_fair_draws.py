"""provably fair lucky-bag draws: the audit keeps the published seed hash, the rule and the options

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Draws recorded before have none of these: they were drawn by the legacy rule (stream.fairness).
    with op.batch_alter_table("lucky_bag_draws") as batch:
        batch.add_column(sa.Column("seed_hash", sa.String(64)))
        batch.add_column(sa.Column("rule", sa.String(32)))
        batch.add_column(sa.Column("draw_options", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("lucky_bag_draws") as batch:
        batch.drop_column("draw_options")
        batch.drop_column("rule")
        batch.drop_column("seed_hash")
