"""wish lines by product: a covering index for the cutoff's totals and its reads in submission order

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_wish_lines_window_product", "wish_lines",
                    ["window_id", "product_id", "id", "pickup_point_id", "qty", "status"])


def downgrade() -> None:
    op.drop_index("ix_wish_lines_window_product", "wish_lines")
