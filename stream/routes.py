"""HTTP routes of live sessions (host commands and reads) and the room websocket."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from infra.apidoc import endpoint
from infra.auth import Principal
from infra.http import authenticate, json_response, read_body, require
from infra.types import Cents, HttpUrl, Id, Title
from stream import host_tools, lucky, sessions, tickets
from stream.context import LIVE
from stream.draw_audit import DrawAudit, audit_for
from stream.protocol import FlashStarted, ItemView, LuckyBagView
from stream.room import live_room
from stream.video_routes import routes as video_routes

HOST_ROLES = ("host",)


class NewSession(msgspec.Struct, kw_only=True):
    title: Title
    community_id: Id
    stream_url: HttpUrl | None = None


class Flash(msgspec.Struct, kw_only=True):
    duration_s: Annotated[int, msgspec.Meta(ge=1, le=sessions.MAX_FLASH_S)]
    price_cents: Cents | None = None  # this sale's price; the item's when None
    per_user_limit: sessions.Units | None = None


async def _hosted(request: web.Request, *allowed: str) -> sessions.SessionState:
    principal = require(request, *HOST_ROLES)
    return await sessions.host_session(request.app[LIVE], principal, request.match_info["sid"], *allowed)


@endpoint(request=NewSession, response=sessions.SessionView, status=201, roles=HOST_ROLES)
async def create_session(request: web.Request) -> web.Response:
    """POST /api/sessions: a new draft session in the host's community."""
    principal = require(request, *HOST_ROLES)
    body = await read_body(request, NewSession)
    state = await sessions.create_session(request.app[LIVE], principal, body.title, body.community_id, body.stream_url)
    return json_response(sessions.SessionView.of(state), 201)


async def _member(request: web.Request) -> tuple[Principal, sessions.SessionState]:
    """The caller and the session in the URL, for anyone of its community who takes part in live
    sessions (not a supplier)."""
    principal = authenticate(request)
    state = await sessions.load_session(request.app[LIVE], request.match_info["sid"])
    sessions.check_member(principal, state)
    return principal, state


@endpoint(response=sessions.SessionDetail)
async def get_session(request: web.Request) -> web.Response:
    """GET /api/sessions/{sid}: state and items, for anyone of the community."""
    live = request.app[LIVE]
    _, state = await _member(request)
    return json_response(sessions.SessionDetail.of(state, items=await sessions.items(live, state.id),
                                                   viewers=await live.hub.total_viewers(state.id)))


@endpoint(request=sessions.NewItem, response=ItemView, status=201, roles=HOST_ROLES)
async def add_item(request: web.Request) -> web.Response:
    """Add an item with its stock (draft or live); viewers see item_added."""
    state = await _hosted(request, "draft", "live")
    item = await sessions.add_item(request.app[LIVE], state.id, await read_body(request, sessions.NewItem))
    return json_response(item, 201)


@endpoint(response=sessions.SessionStatus, roles=HOST_ROLES)
async def go_live(request: web.Request) -> web.Response:
    """Take a draft session live (again is a no-op); viewers see session_live."""
    state = await _hosted(request, "draft", "live")
    if state.status == "draft":
        await sessions.go_live(request.app[LIVE], state)
    return json_response(sessions.SessionStatus(id=state.id, status="live"))


@endpoint(response=sessions.Pinned, roles=HOST_ROLES)
async def pin_item(request: web.Request) -> web.Response:
    """Pin an item on everyone's screen; viewers see item_pinned."""
    state = await _hosted(request, "draft", "live")
    await sessions.pin(request.app[LIVE], state, request.match_info["iid"])
    return json_response(sessions.Pinned(pinned_item_id=request.match_info["iid"]))


@endpoint(request=Flash, response=FlashStarted, roles=HOST_ROLES)
async def start_flash(request: web.Request) -> web.Response:
    """Open an item's flash sale for duration_s; answers the flash_started event."""
    state = await _hosted(request, "live")
    body = await read_body(request, Flash)
    event = await sessions.start_flash(request.app[LIVE], state, request.match_info["iid"], body.duration_s,
                                       body.price_cents, body.per_user_limit)
    return json_response(event)


@endpoint(response=sessions.SessionStatus, roles=HOST_ROLES)
async def end_session(request: web.Request) -> web.Response:
    """End the session: open sales close, viewers see session_ended."""
    state = await _hosted(request, "draft", "live")
    await sessions.end_session(request.app[LIVE], state)
    return json_response(sessions.SessionStatus(id=state.id, status="ended"))


@endpoint(request=lucky.NewLuckyBag, response=LuckyBagView, status=201, roles=HOST_ROLES)
async def create_lucky_bag(request: web.Request) -> web.Response:
    """Start a lucky bag (福袋) with a countdown; viewers see lucky_bag_started."""
    state = await _hosted(request, "live")
    bag = await lucky.create_bag(request.app[LIVE], state, await read_body(request, lucky.NewLuckyBag))
    return json_response(bag, 201)


@endpoint(response=(lucky.BagStatus, lucky.BagSummary))
async def get_lucky_bag(request: web.Request) -> web.Response:
    """A lucky bag: for the host, admins and operators its entrants and, once drawn, its winners and seed
    (the audit); for everyone else of the community counts, masked winner names and their own standing."""
    principal, state = await _member(request)
    return json_response(await lucky.bag_for(request.app[LIVE], principal, state.id, request.match_info["bid"]))


@endpoint(response=DrawAudit)
async def get_draw(request: web.Request) -> web.Response:
    """The recorded draw of a lucky bag, to check it (stream.fairness): seed, published hash, rule, options
    and the entrants' rank keys; their user ids for the host, admins and operators, masked names for others."""
    principal = authenticate(request)
    return json_response(await audit_for(request.app[LIVE].engine, principal, request.match_info["bid"]))


@endpoint(request=lucky.NewRedPacket, response=lucky.RedPacketView, status=201, roles=HOST_ROLES)
async def create_red_packet(request: web.Request) -> web.Response:
    """Hand out a points red packet (红包) in shares; viewers see red_packet_started."""
    state = await _hosted(request, "live")
    packet = await lucky.create_packet(request.app[LIVE], state, await read_body(request, lucky.NewRedPacket))
    return json_response(packet, 201)


@endpoint(response=(lucky.RedPacketStatus, lucky.RedPacketSummary))
async def get_red_packet(request: web.Request) -> web.Response:
    """A red packet's shares left; who took how many points for the host, admins and operators, the
    number taken and their own share for everyone else of the community."""
    principal, state = await _member(request)
    return json_response(await lucky.packet_for(request.app[LIVE], principal, state.id, request.match_info["pid"]))


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
    web.get("/api/lucky-bag-draws/{bid}", get_draw),
    web.post("/api/sessions/{sid}/red-packets", create_red_packet),
    web.get("/api/sessions/{sid}/red-packets/{pid}", get_red_packet),
    web.get("/ws/sessions/{sid}", live_room),
    *tickets.routes,
    *host_tools.routes,
    *video_routes,
]
