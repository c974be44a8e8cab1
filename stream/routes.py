"""HTTP routes of live sessions (host commands and reads) and the room websocket."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from aiohttp import web

from infra.http import authenticate, json_response, read_body, require
from infra.tables import orders
from stream import lucky, sessions
from stream.room import LIVE, live_room

HOST_ROLES = ("host",)


class NewSession(msgspec.Struct, kw_only=True):
    title: str
    community_id: str
    stream_url: str | None = None


class Flash(msgspec.Struct, kw_only=True):
    duration_s: int
    price_cents: int | None = None
    per_user_limit: int | None = None


def _state_json(state: sessions.SessionState) -> dict[str, object]:
    return {"id": state.id, "title": state.title, "community_id": state.community_id, "status": state.status,
            "pinned_item_id": state.pinned_item_id, "stream_url": state.stream_url}


async def _hosted(request: web.Request, *allowed: str) -> sessions.SessionState:
    principal = require(request, *HOST_ROLES)
    return await sessions.host_session(request.app[LIVE], principal, request.match_info["sid"], *allowed)


async def create_session(request: web.Request) -> web.Response:
    """POST /api/sessions: a new draft session in the host's community."""
    principal = require(request, *HOST_ROLES)
    body = await read_body(request, NewSession)
    state = await sessions.create_session(request.app[LIVE], principal, body.title, body.community_id, body.stream_url)
    return json_response(_state_json(state), 201)


async def _member_session(request: web.Request) -> sessions.SessionState:
    """The session in the URL, for anyone of its community."""
    state = await sessions.load_session(request.app[LIVE], request.match_info["sid"])
    sessions.check_member(authenticate(request), state)
    return state


async def get_session(request: web.Request) -> web.Response:
    """GET /api/sessions/{sid}: state and items, for anyone of the community."""
    live = request.app[LIVE]
    state = await _member_session(request)
    return json_response({**_state_json(state), "items": await sessions.items(live, state.id),
                          "viewers": await live.hub.total_viewers(state.id)})


async def add_item(request: web.Request) -> web.Response:
    state = await _hosted(request, "draft", "live")
    item = await sessions.add_item(request.app[LIVE], state.id, await read_body(request, sessions.NewItem))
    return json_response(item, 201)


async def go_live(request: web.Request) -> web.Response:
    state = await _hosted(request, "draft", "live")
    if state.status == "draft":
        await sessions.go_live(request.app[LIVE], state)
    return json_response({"id": state.id, "status": "live"})


async def pin_item(request: web.Request) -> web.Response:
    state = await _hosted(request, "draft", "live")
    await sessions.pin(request.app[LIVE], state, request.match_info["iid"])
    return json_response({"pinned_item_id": request.match_info["iid"]})


async def start_flash(request: web.Request) -> web.Response:
    state = await _hosted(request, "live")
    body = await read_body(request, Flash)
    event = await sessions.start_flash(request.app[LIVE], state, request.match_info["iid"], body.duration_s,
                                       body.price_cents, body.per_user_limit)
    return json_response(event)


async def end_session(request: web.Request) -> web.Response:
    state = await _hosted(request, "draft", "live")
    await sessions.end_session(request.app[LIVE], state)
    return json_response({"id": state.id, "status": "ended"})


async def create_lucky_bag(request: web.Request) -> web.Response:
    state = await _hosted(request, "live")
    bag = await lucky.create_bag(request.app[LIVE], state, await read_body(request, lucky.NewLuckyBag))
    return json_response(bag, 201)


async def get_lucky_bag(request: web.Request) -> web.Response:
    state = await _member_session(request)
    return json_response(await lucky.bag_status(request.app[LIVE], state.id, request.match_info["bid"]))


async def create_red_packet(request: web.Request) -> web.Response:
    state = await _hosted(request, "live")
    packet = await lucky.create_packet(request.app[LIVE], state, await read_body(request, lucky.NewRedPacket))
    return json_response(packet, 201)


async def get_red_packet(request: web.Request) -> web.Response:
    state = await _member_session(request)
    return json_response(await lucky.packet_status(request.app[LIVE], state.id, request.match_info["pid"]))


async def list_orders(request: web.Request) -> web.Response:
    """GET /api/sessions/{sid}/orders from SQL: hosts see all, everyone else their own."""
    live = request.app[LIVE]
    principal = authenticate(request)
    state = await sessions.load_session(live, request.match_info["sid"])
    sessions.check_member(principal, state)
    query = sa.select(orders).where(orders.c.session_id == state.id).order_by(orders.c.reserved_at, orders.c.id)
    if principal.role not in ("host", "admin"):
        query = query.where(orders.c.user_id == principal.user_id)
    async with live.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return json_response({"orders": [
        {"id": r.id, "user_id": r.user_id, "item_id": r.item_id, "qty": r.qty, "price_cents": r.price_cents,
         "kind": r.kind, "status": r.status} for r in rows]})


routes = [
    web.post("/api/sessions", create_session),
    web.get("/api/sessions/{sid}", get_session),
    web.post("/api/sessions/{sid}/items", add_item),
    web.post("/api/sessions/{sid}/live", go_live),
    web.post("/api/sessions/{sid}/items/{iid}/pin", pin_item),
    web.post("/api/sessions/{sid}/items/{iid}/flash", start_flash),
    web.post("/api/sessions/{sid}/end", end_session),
    web.post("/api/sessions/{sid}/lucky-bags", create_lucky_bag),
    web.get("/api/sessions/{sid}/lucky-bags/{bid}", get_lucky_bag),
    web.post("/api/sessions/{sid}/red-packets", create_red_packet),
    web.get("/api/sessions/{sid}/red-packets/{pid}", get_red_packet),
    web.get("/api/sessions/{sid}/orders", list_orders),
    web.get("/ws/sessions/{sid}", live_room),
]
