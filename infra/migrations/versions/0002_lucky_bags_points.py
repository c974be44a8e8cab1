"""lucky-bag draw audit and the points ledger

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lucky_bag_draws",
        sa.Column("bag_id", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("entrants", sa.Text, nullable=False),
        sa.Column("winners", sa.Text, nullable=False),
        sa.Column("prize_item_id", sa.String(64)),
        sa.Column("prize_points", sa.Integer, nullable=False),
        sa.Column("drawn_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "points_ledger",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64)),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_points_ledger_user_id", "points_ledger", ["user_id"])


def downgrade() -> None:
    op.drop_table("points_ledger")
    op.drop_table("lucky_bag_draws")
