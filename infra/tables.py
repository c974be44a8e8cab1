"""The SQL schema (SQLAlchemy Core). Alembic migrations under infra/migrations create it.

Money is integer cents, quantities are integers in the sale unit, times are
timezone-aware UTC datetimes.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

UTC_TIME = sa.DateTime(timezone=True)

communities = sa.Table(
    "communities",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTC_TIME, nullable=False),
)

live_sessions = sa.Table(
    "live_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community_id", sa.String(64), sa.ForeignKey("communities.id"), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # draft, live, ended
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UTC_TIME, nullable=False),
)

session_items = sa.Table(
    "session_items",
    metadata,
    sa.Column("session_id", sa.String(64), sa.ForeignKey("live_sessions.id"), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("unit", sa.String(16), nullable=False),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.Column("per_user_limit", sa.Integer, nullable=False),
    sa.Column("product_id", sa.String(64)),
    sa.Column("image_url", sa.String(500)),
)

# One row per acknowledged reservation. The id is minted by the reserve script,
# so replaying the outbox can never write an order twice.
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(96), primary_key=True),
    sa.Column("session_id", sa.String(64), nullable=False, index=True),
    sa.Column("item_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False, index=True),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # grab, hold, prize
    sa.Column("status", sa.String(16), nullable=False),  # reserved, cancelled
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("reserved_at", UTC_TIME, nullable=False),
    sa.Column("updated_at", UTC_TIME, nullable=False),
    sa.CheckConstraint("qty > 0", name="qty_positive"),
)

# The audit of every lucky-bag draw: anyone can recompute the winners from seed and entrants.
lucky_bag_draws = sa.Table(
    "lucky_bag_draws",
    metadata,
    sa.Column("bag_id", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("seed", sa.String(64), nullable=False),
    sa.Column("entrants", sa.Text, nullable=False),  # JSON list of user ids
    sa.Column("winners", sa.Text, nullable=False),  # JSON list of user ids
    sa.Column("prize_item_id", sa.String(64)),
    sa.Column("prize_points", sa.Integer, nullable=False),
    sa.Column("drawn_at", UTC_TIME, nullable=False),
)

# Neighbourhood points: one row per credit or debit; the id names its cause, so a replay adds nothing.
points_ledger = sa.Table(
    "points_ledger",
    metadata,
    sa.Column("id", sa.String(160), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False, index=True),
    sa.Column("session_id", sa.String(64)),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("created_at", UTC_TIME, nullable=False),
)
