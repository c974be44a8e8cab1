"""The SQL schema (SQLAlchemy Core). Alembic migrations under infra/migrations create it.

Money is integer cents, quantities are integers in the sale unit, times are
timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on PostgreSQL and on SQLite (which keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: linli stores timezone-aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

UTC_TIME = UTCDateTime()

communities = sa.Table(
    "communities",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTC_TIME, nullable=False),
    # After the live: points earned per yuan collected, the community fund's share of merchant
    # revenue (basis points: 1000 is 10%), and the days an order waits at its point before it expires.
    sa.Column("points_per_yuan", sa.Integer, nullable=False, server_default="1"),
    sa.Column("fund_share_bp", sa.Integer, nullable=False, server_default="1000"),
    sa.Column("pickup_days", sa.Integer, nullable=False, server_default="3"),
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
    # reserved, confirmed (holds), ready (at its pickup point), collected, expired, cancelled
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("reserved_at", UTC_TIME, nullable=False),
    sa.Column("updated_at", UTC_TIME, nullable=False),
    sa.Column("pickup_point_id", sa.String(64)),  # set when the order is placed at a point
    sa.Column("pickup_id", sa.String(64), index=True),  # the pickup (and code) that collects it
    sa.Column("proxy_by", sa.String(64)),  # the grid worker who grabbed for the resident
    sa.Column("collected_at", UTC_TIME),
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
    # Set since migration 0009 (stream.fairness): the SHA-256 of the seed published when the bag
    # opened, the rule that drew, and the options with what they meant at the draw (JSON).
    sa.Column("seed_hash", sa.String(64)),
    sa.Column("rule", sa.String(32)),
    sa.Column("draw_options", sa.Text),
)

# Neighbourhood points: one row per credit or debit; the id names its cause, so a replay adds nothing.
points_ledger = sa.Table(
    "points_ledger",
    metadata,
    sa.Column("id", sa.String(160), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False, index=True),
    sa.Column("session_id", sa.String(64)),
    sa.Column("points", sa.Integer, nullable=False),  # negative for a redemption
    sa.Column("reason", sa.String(32), nullable=False),  # lucky_bag, red_packet, collected, volunteer, redeemed
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.Column("community_id", sa.String(64)),
    sa.Column("ref", sa.String(160)),  # what it is for: an order, a bag, a reward, a redemption
    sa.Column("note", sa.String(200), nullable=False, server_default=""),  # e.g. a volunteer award's reason
    sa.Column("actor_id", sa.String(64)),  # who awarded it, when someone did
)

# One row per account whose debits must not overdraw it ("points:<user>", "fund:<community>"):
# a debit first updates its row, which serialises debits of one account on every database.
account_locks = sa.Table(
    "account_locks",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False, server_default="0"),
)

# ---- who and where (community) --------------------------------------------------------

pickup_points = sa.Table(
    "pickup_points",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community_id", sa.String(64), sa.ForeignKey("communities.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("address", sa.String(300), nullable=False, server_default=""),
    sa.Column("kind", sa.String(16), nullable=False, server_default="store"),  # store, pharmacy, locker
    sa.Column("lat", sa.Float),
    sa.Column("lng", sa.Float),
    sa.Column("hours", sa.String(100), nullable=False, server_default=""),  # e.g. 08:00-21:00
    sa.Column("capacity", sa.Integer),  # a locker's compartments
)

# Where each building stands, so a resident's nearest pickup point can be found.
buildings = sa.Table(
    "buildings",
    metadata,
    sa.Column("community_id", sa.String(64), sa.ForeignKey("communities.id"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),  # as residents.building spells it
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
)

# Pickup staff are bound to one point: they confirm codes there only.
pickup_staff = sa.Table(
    "pickup_staff",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("community_id", sa.String(64), nullable=False),
    sa.Column("pickup_point_id", sa.String(64), sa.ForeignKey("pickup_points.id"), nullable=False),
    sa.Column("added_by", sa.String(64), nullable=False),
    sa.Column("added_at", UTC_TIME, nullable=False),
)

residents = sa.Table(
    "residents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the user id in tokens
    sa.Column("community_id", sa.String(64), sa.ForeignKey("communities.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("phone", sa.String(32)),
    sa.Column("building", sa.String(64)),
    sa.Column("room", sa.String(32)),  # e.g. 1205 in 3-1205: how group chats name a household
    sa.Column("grid_worker_id", sa.String(64)),  # the grid worker who may order for this resident
    sa.Column("pickup_point_id", sa.String(64)),  # her chosen default point; else the nearest
    sa.Column("aliases", sa.Text, nullable=False, server_default="[]"),  # JSON list: what the group chat calls her
)

# Every action someone else took on a resident's data (a proxy grab, an admin's change): she sees it.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resident_id", sa.String(64), nullable=False),
    sa.Column("community_id", sa.String(64), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("actor_role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),  # e.g. proxy_grab, pickup_point_changed
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.Index("ix_audit_log_resident", "resident_id", "id"),
)

# What a resident is told (cutoff outcomes, holds about to be released, released): kept, so a
# resident who was offline reads them later. ``kind`` and ``params`` are rendered by the pages in
# their language; ``channels`` records where else it was sent (in-app only for now).
notices = sa.Table(
    "notices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("community_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # e.g. wish_held, hold_release_soon, hold_released
    sa.Column("params", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("link", sa.String(300)),  # the page it is about, e.g. /wishes/<window>
    sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),  # one notice per cause
    sa.Column("channels", sa.String(100), nullable=False, server_default="app"),
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.Column("read_at", UTC_TIME),
    sa.Index("ix_notices_user", "user_id", "id"),
)

# ---- before the live (crowdfund) ------------------------------------------------------

suppliers = sa.Table(
    "suppliers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the user id of the supplier's token
    sa.Column("name", sa.String(200), nullable=False),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("supplier_id", sa.String(64), sa.ForeignKey("suppliers.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("aliases", sa.Text, nullable=False, server_default="[]"),  # JSON list, e.g. ["地瓜"]
    sa.Column("unit", sa.String(16), nullable=False),
    sa.Column("case_size", sa.Integer, nullable=False),
    sa.Column("moq", sa.Integer, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("lead_time_hours", sa.Integer, nullable=False),
    sa.Column("tiers", sa.Text, nullable=False),  # JSON list of {"min_qty", "price_cents"}
    sa.Column("retired_at", UTC_TIME),  # a retired product is offered no more and keeps its history
)

# The communities a supplier serves: its products are offered there only.
supplier_communities = sa.Table(
    "supplier_communities",
    metadata,
    sa.Column("supplier_id", sa.String(64), sa.ForeignKey("suppliers.id"), primary_key=True),
    sa.Column("community_id", sa.String(64), sa.ForeignKey("communities.id"), primary_key=True),
)

wish_windows = sa.Table(
    "wish_windows",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.String(64), sa.ForeignKey("live_sessions.id"), nullable=False, unique=True),
    sa.Column("community_id", sa.String(64), nullable=False),
    sa.Column("opens_at", UTC_TIME, nullable=False),
    sa.Column("cutoff_at", UTC_TIME, nullable=False),
    sa.Column("live_at", UTC_TIME, nullable=False),
    sa.Column("hold_release_at", UTC_TIME, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open, closed, aggregated, released
    sa.Column("closed_at", UTC_TIME),
)

wish_lines = sa.Table(
    "wish_lines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # submission order
    sa.Column("window_id", sa.String(64), sa.ForeignKey("wish_windows.id"), nullable=False, index=True),
    sa.Column("resident_id", sa.String(64), nullable=False),
    sa.Column("product_id", sa.String(64)),  # null for a free-text wish
    sa.Column("free_text", sa.String(200)),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("pickup_point_id", sa.String(64), nullable=False),
    sa.Column("entered_by", sa.String(64), nullable=False),  # the resident, or the grid worker for them
    sa.Column("source", sa.String(16), nullable=False),  # app, proxy, chain
    sa.Column("import_key", sa.String(300)),  # a chain line's identity, so a re-import adds nothing
    sa.Column("status", sa.String(16), nullable=False),  # active, withdrawn
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.Column("updated_at", UTC_TIME, nullable=False),
    sa.UniqueConstraint("window_id", "import_key", name="uq_wish_lines_import"),
    # Covers what the cutoff reads: totals per product and pickup point, and a capacity-bound
    # product's lines in submission order, without touching the table.
    sa.Index("ix_wish_lines_window_product", "window_id", "product_id", "id", "pickup_point_id", "qty", "status"),
)

# A chain's edit (再来3斤, 改为6盒, 不要了) once applied to a wish line: a re-paste applies it never again.
chain_edits = sa.Table(
    "chain_edits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("window_id", sa.String(64), nullable=False),
    sa.Column("import_key", sa.String(300), nullable=False),
    sa.Column("wish_line_id", sa.Integer),  # the line it changed; None when there was nothing to change
    sa.Column("kind", sa.String(16), nullable=False),  # add, replace, withdraw
    sa.Column("qty_before", sa.Integer, nullable=False),
    sa.Column("qty_after", sa.Integer, nullable=False),
    sa.Column("entered_by", sa.String(64), nullable=False),
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.UniqueConstraint("window_id", "import_key", name="uq_chain_edits_key"),
)

supplier_orders = sa.Table(
    "supplier_orders",
    metadata,
    sa.Column("id", sa.String(96), primary_key=True),  # <window>-<supplier>
    sa.Column("window_id", sa.String(64), nullable=False, index=True),
    sa.Column("supplier_id", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),  # pending, confirmed, shipped
    sa.Column("deliver_by", UTC_TIME, nullable=False),
    sa.Column("created_at", UTC_TIME, nullable=False),
)

supplier_order_lines = sa.Table(
    "supplier_order_lines",
    metadata,
    sa.Column("order_id", sa.String(96), primary_key=True),
    sa.Column("product_id", sa.String(64), primary_key=True),
    sa.Column("wished_qty", sa.Integer, nullable=False),
    sa.Column("order_qty", sa.Integer, nullable=False),
    sa.Column("unit_price_cents", sa.Integer, nullable=False),
    sa.Column("total_cents", sa.BigInteger, nullable=False),  # price x units can pass 2^31 cents
    sa.Column("by_pickup_point", sa.Text, nullable=False),  # JSON {pickup point id: qty}
    sa.Column("confirmed_qty", sa.Integer),  # what the supplier confirmed, when fewer than ordered
)

# What became of each wish line at the cutoff.
wish_outcomes = sa.Table(
    "wish_outcomes",
    metadata,
    sa.Column("wish_line_id", sa.Integer, primary_key=True),
    sa.Column("window_id", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),  # held, partly_held, not_viable, shortfall, not_in_catalog
    sa.Column("held_qty", sa.Integer, nullable=False),
    sa.Column("order_id", sa.String(96)),  # the hold in the live session
    sa.Column("item_id", sa.String(64)),
    sa.Column("reason", sa.String(300), nullable=False, server_default=""),
    # The reason as a code and its parameters, which pages render in their own language.
    sa.Column("code", sa.String(32), nullable=False, server_default=""),
    sa.Column("params", sa.Text, nullable=False, server_default="{}"),
    sa.Column("wished_qty", sa.Integer, nullable=False, server_default="0"),
)


# ---- after the live (orders, community) ------------------------------------------------

# One pickup collects a resident's orders of one session at one point, with one 6-digit code.
# ``active_code`` is the code while the pickup waits and NULL after: codes are unique among a
# point's uncollected pickups only, so they can be reused.
pickups = sa.Table(
    "pickups",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community_id", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False, index=True),
    sa.Column("pickup_point_id", sa.String(64), nullable=False),
    sa.Column("code", sa.String(6), nullable=False),
    sa.Column("active_code", sa.String(6)),
    sa.Column("status", sa.String(16), nullable=False),  # waiting, ready, collected, expired, cancelled
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.Column("ready_at", UTC_TIME),
    sa.Column("expires_at", UTC_TIME),
    sa.Column("collected_at", UTC_TIME),
    sa.Column("collected_by", sa.String(64)),
    sa.UniqueConstraint("pickup_point_id", "active_code", name="uq_pickups_active_code"),
    sa.Index("ix_pickups_point_status", "pickup_point_id", "status", "session_id"),
)

# What residents may exchange points for: goods, or an offset of the property fee (a voucher).
rewards = sa.Table(
    "rewards",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community_id", sa.String(64), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("points", sa.Integer, nullable=False),  # the price in points
    sa.Column("kind", sa.String(16), nullable=False),  # goods, fee_offset
    sa.Column("value_cents", sa.Integer, nullable=False, server_default="0"),  # a fee offset's worth
    sa.Column("stock", sa.Integer),  # NULL: unlimited
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.CheckConstraint("points > 0", name="points_positive"),
)

redemptions = sa.Table(
    "redemptions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("community_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False, index=True),
    sa.Column("reward_id", sa.String(64), nullable=False),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # issued, verified (a voucher used once)
    sa.Column("voucher_code", sa.String(16), unique=True),  # fee offsets only
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.Column("verified_at", UTC_TIME),
    sa.Column("verified_by", sa.String(64)),
)

# The community development fund: income (each collected order's share, once: the id names the
# order) and spending (by an admin, never past the balance). Amounts are positive cents.
fund_entries = sa.Table(
    "fund_entries",
    metadata,
    sa.Column("id", sa.String(160), primary_key=True),
    sa.Column("community_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # income, spending
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("ref", sa.String(160)),  # the order an income comes from
    sa.Column("project", sa.String(200), nullable=False, server_default=""),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    sa.Column("actor_id", sa.String(64)),
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
)
