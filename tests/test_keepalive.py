"""The live room's keepalive against a real web process (a ping to every viewer each period, from one
sweep of the hub): a viewer who answers stays, one who stops answering is dropped, a client's own
ping is answered; the room's guards still hold at the handshake though they run around it only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from websockets.asyncio.client import connect

from tests.live import SECRET, Api, bearer, token
from tests.servers import linli_env, shared_stores, start_linli

KEEPALIVE_S = 0.4
HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)


@dataclass
class Room:
    api: Api
    http: aiohttp.ClientSession
    ws_url: str


@pytest.fixture(scope="module")
async def room(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Room]:
    tmp = tmp_path_factory.mktemp("keepalive")
    async with shared_stores(tmp) as (redis_url, db_url):
        env = linli_env(tmp, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET,
                        LINLI_KEEPALIVE_S=str(KEEPALIVE_S))
        web = await start_linli(["web"], env, tmp / "web.log")
        http = aiohttp.ClientSession()
        try:
            api = Api(http, web.url)
            await api.call("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
            sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"}))["id"]
            await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
            yield Room(api, http, web.url.replace("http", "ws") + f"/ws/sessions/{sid}")
        finally:
            await http.close()
            web.stop()


async def test_a_viewer_who_answers_pings_stays_and_is_pinged_every_period(room: Room) -> None:
    async with room.http.ws_connect(room.ws_url, headers=bearer(token("ann")), autoping=False) as ws:
        assert (await ws.receive_json())["type"] == "snapshot"
        pings = 0
        loop = asyncio.get_running_loop()
        until = loop.time() + KEEPALIVE_S * 8
        while (left := until - loop.time()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                break
            assert msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.TEXT), msg
            if msg.type == aiohttp.WSMsgType.PING:
                pings += 1
                await ws.pong(msg.data)
        # ~8 periods, a ping each (a loaded machine may stretch a few), and still in the room.
        assert pings >= 3 and not ws.closed


async def test_a_viewer_who_stops_answering_is_dropped_within_two_periods(room: Room) -> None:
    async with room.http.ws_connect(room.ws_url, headers=bearer(token("bob")), autoping=False) as ws:
        assert (await ws.receive_json())["type"] == "snapshot"
        loop = asyncio.get_running_loop()
        started, pings = loop.time(), 0
        while True:  # reads every frame, answers none
            msg = await ws.receive(timeout=30)
            if msg.type == aiohttp.WSMsgType.PING:
                pings += 1
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR), msg
        assert pings == 1  # dropped at the sweep after the unanswered ping, not left to linger
        assert loop.time() - started < 15  # a few periods; generous for a loaded machine


async def test_a_clients_own_ping_is_answered(room: Room) -> None:
    # The websockets client pings by itself too; here it is asked for one and waits for the pong.
    async with connect(room.ws_url, additional_headers=bearer(token("cai")), ping_interval=None) as ws:
        assert '"snapshot"' in str(await ws.recv())
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)


async def test_the_guards_hold_at_the_handshake(room: Room) -> None:
    """The middlewares skip the live room and it runs them around its opening: the same answers."""
    async with room.http.get(room.ws_url, headers={"Authorization": "Bearer nonsense"}) as resp:
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
        assert resp.headers["X-Frame-Options"] == "DENY"  # the security headers are on a refusal
    async with room.http.get(room.ws_url + "?token=" + token("dan")) as resp:
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_in_url"
    unknown = room.ws_url.rsplit("/", 1)[0] + "/nope"
    async with room.http.get(unknown, headers=bearer(token("dan"))) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "unknown_session"
    outsider = token("eve", community="c2")
    async with room.http.get(room.ws_url, headers=bearer(outsider)) as resp:
        assert resp.status in (403, 404)
    async with room.http.ws_connect(room.ws_url, headers=bearer(token("fay"))) as ws:
        assert (await ws.receive_json())["type"] == "snapshot"
        assert "X-Frame-Options" not in ws._response.headers  # no document in a 101, no headers for one
