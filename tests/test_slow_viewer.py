"""The slow-viewer policy, against a real server."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestServer
from websockets.asyncio.client import connect

from infra.websocket import TakenOver
from stream.viewer import SEND_QUEUE, SLOW_CLOSE_CODE, Viewer


async def test_a_viewer_that_falls_too_far_behind_is_disconnected() -> None:
    """More than SEND_QUEUE events waiting for one viewer: it is closed with 4008, others are not held up."""

    async def handler(request: web.Request) -> web.StreamResponse:
        viewer = Viewer("s1", "u1", "resident")
        await viewer.accept(request)
        # A burst arrives faster than this viewer's writer gets to run.
        for n in range(SEND_QUEUE + 10):
            viewer.offer(b'{"seq":%d,"ts":0,"type":"comment","user_id":"x","text":"hi"}' % (n + 1))
        assert viewer.too_slow and not viewer.pending
        return TakenOver()

    app = web.Application()
    app.add_routes([web.get("/ws", handler)])
    async with TestServer(app) as server, connect(f"ws://127.0.0.1:{server.port}/ws") as client:
        await asyncio.wait_for(client.wait_closed(), 5)
        assert client.protocol.close_code == SLOW_CLOSE_CODE
