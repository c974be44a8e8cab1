"""The app's middlewares against a real aiohttp server: a route marked ``guards_its_opening`` runs with
no middleware suspended under it (each would otherwise hold a frame for as long as a live room's
connection lasts), the same middlewares guard its opening, and every other route keeps all three."""

from __future__ import annotations

import json
import sys
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from infra.errors import Forbidden
from infra.middlewares import GUARDS, MIDDLEWARES, guarded, guards_its_opening

GUARD_NAMES = {guard.__name__ for guard in GUARDS}


def awaiting_chain() -> list[str]:
    """The names of the functions the running handler is called from (its coroutines' frames, which
    stay suspended under it whenever it awaits), innermost first."""
    names, frame = [], sys._getframe(1)
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


async def plain(request: web.Request) -> web.Response:
    return web.json_response({"chain": awaiting_chain()})


async def _opening(request: web.Request) -> web.Response:
    if request.query.get("refuse"):
        raise Forbidden("not you")
    return web.json_response({"opening": awaiting_chain()})


@guards_its_opening
async def long_lived(request: web.Request) -> web.Response:
    opened = await guarded(request, _opening)
    if opened.status != 200:
        return opened  # type: ignore[return-value]
    body: Any = opened.body
    return web.json_response({"opening": json.loads(body)["opening"], "after": awaiting_chain()})


async def test_a_marked_route_keeps_no_middleware_frame_and_is_still_guarded() -> None:
    app = web.Application(middlewares=MIDDLEWARES)
    app.add_routes([web.get("/api/plain", plain), web.get("/ws/long", long_lived)])
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/api/plain")) as resp:
            assert set((await resp.json())["chain"]) >= GUARD_NAMES
        async with http.get(server.make_url("/ws/long")) as resp:
            data = await resp.json()
        assert set(data["opening"]) >= GUARD_NAMES  # the opening runs inside every guard
        assert not GUARD_NAMES & set(data["after"])  # and what follows inside none
        # A refusal in the opening is the problem body any route gives.
        async with http.get(server.make_url("/ws/long?refuse=1")) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"
        # The auth guard holds at the opening: a token in the URL is refused there.
        async with http.get(server.make_url("/ws/long?token=abc")) as resp:
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_in_url"
