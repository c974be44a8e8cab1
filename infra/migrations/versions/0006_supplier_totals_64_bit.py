"""supplier order totals in 64 bits: a unit price of up to 100,000 yuan times hundreds of units
passes 2^31 cents

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supplier_order_lines") as batch:
        batch.alter_column("total_cents", type_=sa.BigInteger, existing_type=sa.Integer, existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("supplier_order_lines") as batch:
        batch.alter_column("total_cents", type_=sa.Integer, existing_type=sa.BigInteger, existing_nullable=False)
