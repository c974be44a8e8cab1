"""HTTP routes of the orders room: a session's durable orders, as SQL holds them."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from aiohttp import web

from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.errors import Forbidden, NotFound
from infra.http import authenticate, json_response
from infra.ids import ID_RE
from infra.tables import live_sessions, orders

# Who sees every order of a session; everyone else of the community sees their own.
ALL_ORDERS_ROLES = ("host", "admin", "operator")


class OrderRow(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    item_id: str
    qty: int
    price_cents: int
    kind: str  # grab, hold or prize
    status: str  # reserved, confirmed or cancelled


class SessionOrders(msgspec.Struct, kw_only=True):
    orders: list[OrderRow]


@endpoint(response=SessionOrders)
async def list_orders(request: web.Request) -> web.Response:
    """GET /api/sessions/{sid}/orders from SQL: hosts see all, everyone else their own."""
    principal = authenticate(request)
    sid = request.match_info["sid"]
    engine = request.app[RESOURCES].engine
    async with engine.connect() as conn:
        community = await conn.scalar(sa.select(live_sessions.c.community_id).where(live_sessions.c.id == sid)) \
            if ID_RE.match(sid) else None
        if community is None:
            raise NotFound(f"no session {sid}", code="unknown_session")
        if not principal.can_act_in(community):
            raise Forbidden("this session belongs to another community")
        query = sa.select(orders).where(orders.c.session_id == sid).order_by(orders.c.reserved_at, orders.c.id)
        if principal.role not in ALL_ORDERS_ROLES:
            query = query.where(orders.c.user_id == principal.user_id)
        rows = (await conn.execute(query)).all()
    return json_response(SessionOrders(orders=[
        OrderRow(id=r.id, user_id=r.user_id, item_id=r.item_id, qty=r.qty, price_cents=r.price_cents,
                 kind=r.kind, status=r.status) for r in rows]))


routes = [
    web.get("/api/sessions/{sid}/orders", list_orders),
]
