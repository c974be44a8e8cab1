"""Who may open a live room, and the one reason each one who may not is told.

Checked in this order, the same on ``POST /api/ws-tickets`` (which a page asks before every connect,
so it reads the answer as an HTTP status) and on the websocket handshake (other clients):

| who | answer |
|---|---|
| no token, an expired, bad or revoked one | 401 `unauthorized` / `token_revoked`: sign in again |
| a role that never joins (a supplier) | 403 `not_for_role`: this is not for suppliers |
| a session that does not exist | 404 `unknown_session` |
| another community's session | 403 `forbidden` |
| a session that has ended | 410 `session_ended`: see your orders |

A page stops reconnecting on any of these (docs/protocol.md); only a network failure or 5xx is retried.
"""

from __future__ import annotations

from infra.auth import Principal
from infra.errors import Forbidden
from stream.audience import may_watch
from stream.context import Live
from stream.errors import SessionOver
from stream.sessions import SessionState, check_member, load_session


def check_role(principal: Principal) -> None:
    """A role that never takes part in live sessions is told so before anything about the session."""
    if not may_watch(principal.role):
        raise Forbidden(f"a {principal.role} does not take part in live sessions: live rooms are for residents "
                        "and their helpers", code="not_for_role")


async def joinable(live: Live, principal: Principal, sid: str) -> SessionState:
    """The session the caller may join now, or the error that says why not."""
    check_role(principal)
    state = await load_session(live, sid)
    check_member(principal, state)
    if state.status == "ended":
        raise SessionOver("this live session has ended: your orders are under 我的订单")
    return state
