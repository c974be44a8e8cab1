"""The servers linli's fan-out is compared with, as a Python developer would write each one.

    python -m bench.peer_servers websockets|aiohttp|socketio --port N

Each greets a new viewer with one frame (as linli sends its snapshot), and ``POST /flash``
broadcasts one ``flash_started`` event to every connected viewer, then answers. Each runs on
uvloop, as ``linli web`` does:

- websockets: a `websockets` server; the trigger calls ``websockets.broadcast()``.
- aiohttp: a plain aiohttp server; the trigger loops ``await ws.send_str(msg)`` over the viewers.
- socketio: ``socketio.AsyncServer`` on aiohttp; the trigger calls ``await sio.emit(...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from http import HTTPStatus

import uvloop
from aiohttp import web

HELLO = '{"type":"hello"}'


def flash_event() -> str:
    """The event every viewer gets, the same shape and size as linli's ``flash_started``."""
    now = int(time.time() * 1000)
    return json.dumps({"seq": 3, "ts": now, "type": "flash_started", "item_id": "i1", "ends_at": now + 600_000,
                       "price_cents": 100}, separators=(",", ":"))


async def serve_websockets(port: int) -> None:
    """A `websockets` server; its trigger is answered by process_request on the same port."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.http11 import Request, Response

    viewers: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        viewers.add(ws)
        try:
            await ws.send(HELLO)
            await ws.wait_closed()
        finally:
            viewers.discard(ws)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/flash":
            broadcast(viewers, flash_event())
            return connection.respond(HTTPStatus.OK, "sent\n")
        return None

    async with serve(handler, "127.0.0.1", port, process_request=process_request, compression=None,
                     ping_interval=None, backlog=4096):
        await asyncio.get_running_loop().create_future()


def _aiohttp_app() -> web.Application:
    viewers: set[web.WebSocketResponse] = set()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        viewers.add(ws)
        try:
            await ws.send_str(HELLO)
            async for _ in ws:
                pass
        finally:
            viewers.discard(ws)
        return ws

    async def flash(request: web.Request) -> web.Response:
        msg = flash_event()
        for ws in list(viewers):
            await ws.send_str(msg)
        return web.Response(text="sent\n")

    app = web.Application()
    app.add_routes([web.get("/ws", ws_handler), web.post("/flash", flash)])
    return app


def _socketio_app() -> web.Application:
    import socketio  # the bench extra: never a dependency of linli itself

    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)

    async def flash(request: web.Request) -> web.Response:
        await sio.emit("flash_started", json.loads(flash_event()))
        return web.Response(text="sent\n")

    app.add_routes([web.post("/flash", flash)])
    return app


async def serve_aiohttp_app(app: web.Application, port: int) -> None:
    """Serve an aiohttp application until killed."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    await asyncio.get_running_loop().create_future()


def main() -> None:
    """``python -m bench.peer_servers <kind> --port N``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["websockets", "aiohttp", "socketio"])
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    if args.kind == "websockets":
        uvloop.run(serve_websockets(args.port))
    elif args.kind == "aiohttp":
        uvloop.run(serve_aiohttp_app(_aiohttp_app(), args.port))
    else:
        uvloop.run(serve_aiohttp_app(_socketio_app(), args.port))


if __name__ == "__main__":
    main()
