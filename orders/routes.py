"""HTTP routes of the orders room: a session's durable orders, as SQL holds them."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from aiohttp import web

from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.errors import BadRequest, Forbidden, NotFound
from infra.http import authenticate, json_response
from infra.ids import ID_RE
from infra.tables import live_sessions, orders
from orders.pickup_routes import routes as pickup_routes

# Who sees every order of a session (a community's admin in its own community, an operator in
# any); everyone else of the community sees their own.
ALL_ORDERS_ROLES = ("host", "admin", "operator")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
KINDS = ("grab", "hold", "prize")


class OrderRow(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    item_id: str
    qty: int
    price_cents: int
    kind: str  # grab, hold or prize
    status: str  # reserved, confirmed, ready, collected, expired or cancelled


class SessionOrders(msgspec.Struct, kw_only=True):
    orders: list[OrderRow]  # oldest first
    next_after: str | None = None  # pass as ?after= for the next page; null on the last page


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _kind(request: web.Request) -> str | None:
    kind = request.query.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind is one of {', '.join(KINDS)}")
    return kind


@endpoint(response=SessionOrders)
async def list_orders(request: web.Request) -> web.Response:
    """GET /api/sessions/{sid}/orders from SQL, oldest first, a page at a time (``?limit=`` 1-500,
    default 100; ``?after=<order id>`` for the next page; ``?kind=`` grab, hold or prize): hosts see
    all, everyone else of the community their own; never a supplier."""
    principal = authenticate(request)
    sid = request.match_info["sid"]
    limit, kind, after = _limit(request), _kind(request), request.query.get("after")
    engine = request.app[RESOURCES].engine
    async with engine.connect() as conn:
        community = await conn.scalar(sa.select(live_sessions.c.community_id).where(live_sessions.c.id == sid)) \
            if ID_RE.match(sid) else None
        if community is None:
            raise NotFound(f"no session {sid}", code="unknown_session")
        if not principal.can_act_in(community):
            raise Forbidden("this session belongs to another community")
        if principal.role == "supplier":
            raise Forbidden("a supplier reads its own supplier orders (/api/supplier/orders), not a live session's")
        visible: list[Any] = [orders.c.session_id == sid]
        if principal.role not in ALL_ORDERS_ROLES:
            visible.append(orders.c.user_id == principal.user_id)
        if kind is not None:
            visible.append(orders.c.kind == kind)
        query = sa.select(orders).where(*visible)
        if after is not None:
            # Keyset paging: the page goes on from the named order, so rows that arrive meanwhile
            # (the outbox worker keeps writing during a live) neither repeat nor shift a page.
            mark = (await conn.execute(sa.select(orders.c.reserved_at, orders.c.id).where(
                *visible, orders.c.id == after))).first() if ID_RE.match(after) else None
            if mark is None:
                raise BadRequest("after must be the id of an order on the previous page", code="bad_cursor")
            query = query.where(sa.or_(orders.c.reserved_at > mark.reserved_at,
                                       sa.and_(orders.c.reserved_at == mark.reserved_at, orders.c.id > mark.id)))
        rows = (await conn.execute(query.order_by(orders.c.reserved_at, orders.c.id).limit(limit + 1))).all()
    page = rows[:limit]
    return json_response(SessionOrders(orders=[
        OrderRow(id=r.id, user_id=r.user_id, item_id=r.item_id, qty=r.qty, price_cents=r.price_cents,
                 kind=r.kind, status=r.status) for r in page],
        next_after=page[-1].id if len(rows) > limit else None))


routes = [
    web.get("/api/sessions/{sid}/orders", list_orders),
    *pickup_routes,
]
