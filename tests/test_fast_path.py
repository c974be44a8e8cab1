"""The fan-out's fast path against real sockets: frames go straight to a socket that takes them, a
viewer who falls behind is queued in order and comes back to the fast path, or is cut off past the
bound; the snapshot's events are skipped either way; personal frames and editions reach the right people."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infra.websocket import TakenOver
from stream.hub import Hub
from stream.protocol import Personal
from stream.scripts import Scripts
from stream.viewer import SEND_QUEUE, SLOW_CLOSE_CODE, Viewer, frame_seq, text_frame

BIG = "x" * 4000  # large frames fill the small socket buffers below after a few dozen


def event(seq: int, text: str = "hi") -> bytes:
    return b'{"seq":%d,"ts":0,"type":"comment","user_id":"u9","name":"\xe7\x8e\x8b*","text":"%s"}' % (
        seq, text.encode())


@asynccontextmanager
async def room(on_join: Callable[[Viewer], None] | None = None,
               hub: Hub | None = None) -> AsyncIterator[tuple[BaseTestServer, list[Viewer]]]:
    """A real aiohttp server whose websocket handler makes each connection a started Viewer with a
    small kernel send buffer (so a reader that stops reading backs up into the transport quickly)."""
    joined: list[Viewer] = []
    tasks: set[asyncio.Future[None]] = set()

    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        viewer = Viewer("s1", request.query.get("user", "u1"), request.query.get("role", "resident"))
        await viewer.accept(request)
        tasks.add(asyncio.ensure_future(join(viewer)))  # the handler returns once the socket is the viewer's
        return TakenOver()

    async def join(viewer: Viewer) -> None:
        if hub is not None:
            await hub.join(viewer)
        if on_join is not None:
            on_join(viewer)
        viewer.start()
        joined.append(viewer)
        if hub is not None:
            viewer.when_gone(lambda: tasks.add(asyncio.ensure_future(hub.leave(viewer))))

    app = web.Application()
    app.add_routes([web.get("/ws", handler)])
    async with TestServer(app) as server:
        yield server, joined


@asynccontextmanager
async def slow_client(server: BaseTestServer, query: str = "") -> AsyncIterator[ClientConnection]:
    """A client with a small receive buffer that reads only when the test asks it to."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    async with connect(f"ws://127.0.0.1:{server.port}/ws{query}", sock=sock, max_queue=1, max_size=2**20,
                       compression=None, ping_interval=None) as client:
        yield client


def queued(viewer: Viewer) -> int:
    return len(viewer.pending or ())


async def until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 5 s")


async def read_seqs(client: ClientConnection, count: int) -> list[int]:
    return [json.loads(await asyncio.wait_for(client.recv(), 5))["seq"] for _ in range(count)]


async def test_a_reader_that_falls_behind_is_queued_in_order_and_returns_to_the_fast_path() -> None:
    """A burst beyond what her socket takes is queued; every frame arrives once, in order, and once
    she has caught up the next frame skips the queue again."""
    async with room() as (server, joined), slow_client(server) as client:
        await until(lambda: len(joined) == 1)
        viewer = joined[0]
        viewer.offer(event(1))
        assert viewer.pending is None  # an idle socket takes the frame at once: no queue made
        assert await read_seqs(client, 1) == [1]
        for seq in range(2, 202):
            viewer.offer(event(seq, BIG))
        assert queued(viewer), "a 800 KB burst should back up past the transport's high-water mark"
        assert not viewer.too_slow
        # The moment after her socket drained and before her drainer ran: the transport takes bytes
        # again, yet frames wait; a frame offered now must still go behind them.
        viewer._high = 2**30
        viewer.offer(event(202))
        assert await read_seqs(client, 201) == list(range(2, 203))
        await until(lambda: viewer.pending is None)  # caught up: queue and drainer gone
        viewer.offer(event(203))
        assert viewer.pending is None
        assert await read_seqs(client, 1) == [203]


async def test_a_reader_that_stops_is_cut_off_at_the_bound_after_a_gapless_prefix() -> None:
    """More than SEND_QUEUE frames waiting: she is closed with 4008; what she got before is in order."""
    async with room() as (server, joined), slow_client(server) as client:
        await until(lambda: len(joined) == 1)
        viewer = joined[0]
        total = SEND_QUEUE + 200
        for seq in range(1, total + 1):
            viewer.offer(event(seq, BIG))
        assert viewer.too_slow and viewer.pending is None
        got = []
        with contextlib.suppress(ConnectionClosed):
            async for message in client:
                got.append(json.loads(message)["seq"])
        assert client.protocol.close_code == SLOW_CLOSE_CODE
        assert got == list(range(1, len(got) + 1)) and len(got) < total


async def test_events_in_the_snapshot_are_skipped_whether_queued_or_written_at_once() -> None:
    """Events queued before start and at or below min_seq are dropped; a reply without a seq is not."""

    def before_start(viewer: Viewer) -> None:
        viewer.min_seq = 5
        for seq in range(1, 8):
            viewer.offer(event(seq))
        viewer.offer(b'{"type":"grab_result","request_id":"r1","ok":true}')

    async with room(before_start) as (server, joined), slow_client(server) as client:
        await until(lambda: len(joined) == 1)
        got = [json.loads(await asyncio.wait_for(client.recv(), 5)) for _ in range(3)]
        assert [g.get("seq") for g in got] == [6, 7, None]
        viewer = joined[0]
        await until(lambda: viewer.pending is None)
        viewer.min_seq = 9  # a resume that replayed up to 9, meeting events straight on the fast path
        for seq in range(8, 12):
            viewer.offer(event(seq))
        assert await read_seqs(client, 2) == [10, 11]


def test_frames_are_the_bytes_aiohttp_would_send() -> None:
    """Header lengths at each size boundary, and the seq read back from a built frame."""
    for size in (0, 125, 126, 65535, 65536):
        frame = text_frame(b"a" * size)
        assert frame[0] == 0x81 and frame.endswith(b"a" * size)
        assert len(frame) - size == (2 if size < 126 else 4 if size < 65536 else 10)
    assert frame_seq(text_frame(event(123456789))) == 123456789
    assert frame_seq(text_frame(event(7, "y" * 70_000))) == 7
    assert frame_seq(text_frame(b'{"type":"error"}')) is None


async def test_personal_frames_and_editions_reach_the_right_viewers(redis: aioredis.Redis) -> None:
    """Through a real hub: a personal frame reaches only her connections; a comment reaches staff with
    the user id and residents without it, each edition framed once and written straight out."""
    scripts = Scripts()
    await scripts.load(redis)
    hub = Hub(redis, scripts)
    await hub.start()
    try:
        async with room(hub=hub) as (server, joined), \
                slow_client(server, "?user=u1") as her, slow_client(server, "?user=u1") as her_phone, \
                slow_client(server, "?user=u2") as neighbour, slow_client(server, "?user=h&role=host") as host:
            await until(lambda: len(joined) == 4)
            note = b'{"type":"hold_notice","order_id":"o1"}'
            hub.deliver_personal("s1", msgspec.json.encode(Personal(to="u1", frame=msgspec.Raw(note))))
            hub.deliver("s1", event(1))
            for client in (her, her_phone):
                assert json.loads(await asyncio.wait_for(client.recv(), 5)) == json.loads(note)
            for client in (her, her_phone, neighbour):
                assert "user_id" not in json.loads(await asyncio.wait_for(client.recv(), 5))
            assert json.loads(await asyncio.wait_for(host.recv(), 5))["user_id"] == "u9"
            assert all(v.pending is None for v in joined)
            # Her phone leaves: her other connection still gets what is hers, the neighbour nothing.
            await her_phone.close()
            await until(lambda: hub.local_viewers("s1") == 3)
            hub.deliver_personal("s1", msgspec.json.encode(Personal(to="u1", frame=msgspec.Raw(note))))
            hub.deliver("s1", event(2))
            assert json.loads(await asyncio.wait_for(her.recv(), 5)) == json.loads(note)
            assert json.loads(await asyncio.wait_for(neighbour.recv(), 5))["seq"] == 2
    finally:
        await hub.stop()
