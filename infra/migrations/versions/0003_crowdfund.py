"""crowdfund: pickup points, residents, suppliers, products, wish windows and lines, supplier orders

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pickup_points",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("community_id", sa.String(64), sa.ForeignKey("communities.id", name="fk_pickup_points_community_id_communities"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300), nullable=False, server_default=""),
    )
    op.create_table(
        "residents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("community_id", sa.String(64), sa.ForeignKey("communities.id", name="fk_residents_community_id_communities"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(32)),
        sa.Column("building", sa.String(64)),
        sa.Column("grid_worker_id", sa.String(64)),
    )
    op.create_table(
        "suppliers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("supplier_id", sa.String(64), sa.ForeignKey("suppliers.id", name="fk_products_supplier_id_suppliers"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("aliases", sa.Text, nullable=False, server_default="[]"),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("case_size", sa.Integer, nullable=False),
        sa.Column("moq", sa.Integer, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("lead_time_hours", sa.Integer, nullable=False),
        sa.Column("tiers", sa.Text, nullable=False),
    )
    op.create_table(
        "wish_windows",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("live_sessions.id", name="fk_wish_windows_session_id_live_sessions"), nullable=False),
        sa.Column("community_id", sa.String(64), nullable=False),
        sa.Column("opens_at", UTC_TIME, nullable=False),
        sa.Column("cutoff_at", UTC_TIME, nullable=False),
        sa.Column("live_at", UTC_TIME, nullable=False),
        sa.Column("hold_release_at", UTC_TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("closed_at", UTC_TIME),
        sa.UniqueConstraint("session_id", name="uq_wish_windows_session_id"),
    )
    op.create_table(
        "wish_lines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("window_id", sa.String(64), sa.ForeignKey("wish_windows.id", name="fk_wish_lines_window_id_wish_windows"), nullable=False),
        sa.Column("resident_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.String(64)),
        sa.Column("free_text", sa.String(200)),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("pickup_point_id", sa.String(64), nullable=False),
        sa.Column("entered_by", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("import_key", sa.String(300)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("window_id", "import_key", name="uq_wish_lines_import"),
    )
    op.create_index("ix_wish_lines_window_id", "wish_lines", ["window_id"])
    op.create_table(
        "supplier_orders",
        sa.Column("id", sa.String(96), primary_key=True),
        sa.Column("window_id", sa.String(64), nullable=False),
        sa.Column("supplier_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deliver_by", UTC_TIME, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_supplier_orders_window_id", "supplier_orders", ["window_id"])
    op.create_index("ix_supplier_orders_supplier_id", "supplier_orders", ["supplier_id"])
    op.create_table(
        "supplier_order_lines",
        sa.Column("order_id", sa.String(96), primary_key=True),
        sa.Column("product_id", sa.String(64), primary_key=True),
        sa.Column("wished_qty", sa.Integer, nullable=False),
        sa.Column("order_qty", sa.Integer, nullable=False),
        sa.Column("unit_price_cents", sa.Integer, nullable=False),
        sa.Column("total_cents", sa.Integer, nullable=False),
        sa.Column("by_pickup_point", sa.Text, nullable=False),
    )
    op.create_table(
        "wish_outcomes",
        sa.Column("wish_line_id", sa.Integer, primary_key=True),
        sa.Column("window_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("held_qty", sa.Integer, nullable=False),
        sa.Column("order_id", sa.String(96)),
        sa.Column("item_id", sa.String(64)),
        sa.Column("reason", sa.String(300), nullable=False, server_default=""),
    )
    op.create_index("ix_wish_outcomes_window_id", "wish_outcomes", ["window_id"])


def downgrade() -> None:
    for table in ("wish_outcomes", "supplier_order_lines", "supplier_orders", "wish_lines", "wish_windows",
                  "products", "suppliers", "residents", "pickup_points"):
        op.drop_table(table)
