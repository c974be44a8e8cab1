"""Websocket tickets: how a browser opens the live room without putting its token in a URL.

A browser cannot set headers on a websocket, and a token in the query string ends up in access
logs, proxies and history. So a page asks ``POST /api/ws-tickets`` (with its bearer header) for a
ticket: random, bound to the caller (user, role, community, token id) and to one session, kept in
Redis under the session's hash tag for ``TICKET_TTL_S`` seconds and deleted by its first use.
A leaked ticket is worth at most one join of one room, for half a minute.
"""

from __future__ import annotations

import re
import secrets

import msgspec
from aiohttp import web

from infra.apidoc import endpoint
from infra.auth import ROLE_NAMES, AuthError, Principal, TokenRevoked
from infra.errors import Unauthorized
from infra.http import authenticate, json_response, read_body
from infra.ids import ID_RE
from infra.revocation import check_not_revoked
from infra.types import Id
from stream import keys
from stream.admission import joinable
from stream.context import LIVE, Live
from stream.sessions import now_ms

TICKET_TTL_S = 30
TICKET_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")  # secrets.token_urlsafe(24)


class TicketRequest(msgspec.Struct, kw_only=True):
    session_id: Id


class Ticket(msgspec.Struct, kw_only=True):
    ticket: str  # for ?ticket= on GET /ws/sessions/{session_id}, once
    expires_at: int  # epoch ms


class _Bound(msgspec.Struct, kw_only=True, array_like=True):
    """Who a ticket was given to, as stored in Redis."""

    user_id: str
    role: str
    community_id: str | None
    token_id: str
    issued_at: int
    expires_at: int


_encode, _decode = msgspec.json.Encoder().encode, msgspec.json.Decoder(_Bound).decode


@endpoint(request=TicketRequest, response=Ticket, status=201)
async def post_ws_ticket(request: web.Request) -> web.Response:
    """A single-use ticket, valid 30 s, to open one session's live-room websocket from a browser; a
    caller who may not join hears why: 401 sign in again, 403 `not_for_role` or another community's,
    404 `unknown_session`, 410 `session_ended`."""
    principal = authenticate(request)
    body = await read_body(request, TicketRequest)
    live = request.app[LIVE]
    # The page reads this answer before it connects: the reasons not to (stream.admission).
    state = await joinable(live, principal, body.session_id)
    ticket = secrets.token_urlsafe(24)
    bound = _Bound(user_id=principal.user_id, role=principal.role, community_id=principal.community_id,
                   token_id=principal.token_id, issued_at=principal.issued_at, expires_at=principal.expires_at)
    await live.redis.set(keys.ws_ticket(state.id, ticket), _encode(bound), ex=TICKET_TTL_S)
    return json_response(Ticket(ticket=ticket, expires_at=now_ms() + TICKET_TTL_S * 1000), 201)


async def redeem_ticket(live: Live, sid: str, ticket: str) -> Principal:
    """Who the ticket was given to; it works once, for its own session, unless its token was revoked since."""
    valid = TICKET_RE.match(ticket) and ID_RE.match(sid)
    raw = await live.redis.getdel(keys.ws_ticket(sid, ticket)) if valid else None
    if raw is None:
        raise Unauthorized("that ticket is unknown, used or expired: ask POST /api/ws-tickets for a new one",
                           code="bad_ticket")
    bound = _decode(raw)
    principal = Principal(user_id=bound.user_id, role=ROLE_NAMES.get(bound.role, bound.role),
                          community_id=bound.community_id, token_id=bound.token_id, issued_at=bound.issued_at,
                          expires_at=bound.expires_at)
    try:
        await check_not_revoked(live.redis, principal)
    except TokenRevoked as exc:
        raise Unauthorized(f"{exc}: sign in again", code="token_revoked") from exc
    except AuthError as exc:
        raise Unauthorized(str(exc)) from exc
    return principal


routes = [web.post("/api/ws-tickets", post_ws_ticket)]
