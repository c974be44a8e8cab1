"""The room's own websocket serving (infra.websocket, stream.viewer): client frames read as RFC 6455 has
them, held to the frames the `websockets` library builds, and a real server whose connections aiohttp
lets go of once they are the viewers'."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import socket
import struct
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from infra.websocket import (
    MESSAGE_TOO_BIG,
    PROTOCOL_ERROR,
    FrameError,
    TakenOver,
    close_code_of,
    close_frame,
    read_frames,
)
from stream.viewer import MAX_MESSAGE, Listener, Viewer

MAX = 1000

frames_strategy = st.lists(st.one_of(
    st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.CONT]), st.binary(max_size=MAX), st.booleans()),
    st.tuples(st.sampled_from([Opcode.PING, Opcode.PONG, Opcode.CLOSE]), st.binary(max_size=125), st.just(True)),
), max_size=12)


def masked(opcode: int, data: bytes, fin: bool = True) -> bytes:
    return Frame(Opcode(opcode), data, fin).serialize(mask=True)


@settings(max_examples=300, deadline=None)
@given(frames=frames_strategy, cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8))
def test_frames_read_in_any_chunks_are_the_frames_websockets_built(
        frames: list[tuple[Opcode, bytes, bool]], cuts: list[int]) -> None:
    """Whatever the chunks the bytes arrive in, the frames read are those `websockets` serialized, masked
    with random keys, in order, the unfinished rest kept for the next chunk."""
    wire = b"".join(masked(op, data, fin) for op, data, fin in frames)
    bounds = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    read: list[tuple[int, bool, bytes]] = []
    rest = b""
    for start, end in itertools.pairwise(bounds):
        got, rest = read_frames(rest + wire[start:end], MAX)
        read += got
    assert rest == b""
    assert read == [(int(op), fin, data) for op, data, fin in frames]


@pytest.mark.parametrize(("wire", "code"), [
    (b"\x81\x02hi", PROTOCOL_ERROR),  # not masked
    (b"\xc1\x80abcd", PROTOCOL_ERROR),  # a reserved bit
    (b"\x83\x80abcd", PROTOCOL_ERROR),  # an unknown opcode
    (b"\x09\x80abcd", PROTOCOL_ERROR),  # a ping in fragments
    (b"\x89\xfe\x00\x7eabcd" + b"x" * 126, PROTOCOL_ERROR),  # a ping over 125 bytes
    (b"\x81\xff" + struct.pack("!Q", 2**40), MESSAGE_TOO_BIG),  # refused at the header, no payload waited for
    (b"\x81\xfe" + struct.pack("!H", MAX + 1), MESSAGE_TOO_BIG),
    (b"\x81\xff" + struct.pack("!Q", 2**63 + 5), PROTOCOL_ERROR),  # a 64-bit length's first bit set
])
def test_a_broken_frame_is_refused_with_its_close_code(wire: bytes, code: int) -> None:
    with pytest.raises(FrameError) as refused:
        read_frames(wire, MAX)
    assert refused.value.code == code


def test_a_close_reason_is_cut_on_a_character_boundary() -> None:
    frame = close_frame(1000, "走".encode() * 60)  # 180 bytes; a control frame holds 125
    assert len(frame) <= 127
    assert frame[4:].decode() == "走" * 41


def test_close_codes_are_checked() -> None:
    assert close_code_of(b"") == 1005
    assert close_code_of(struct.pack("!H", 1000) + "再见".encode()) == 1000
    assert close_code_of(struct.pack("!H", 4001)) == 4001
    for bad in (b"\x03", struct.pack("!H", 1005), struct.pack("!H", 999), struct.pack("!H", 1000) + b"\xff"):
        with pytest.raises(FrameError):
            close_code_of(bad)


class Echo:
    """A listener that answers each message with what it read."""

    async def __call__(self, viewer: Viewer, message: str | bytes) -> None:
        await asyncio.sleep(0)  # as the room's listener, it awaits
        kind = "text" if isinstance(message, str) else "binary"
        viewer.offer(json.dumps({"kind": kind, "size": len(message), "head": str(message[:8])}).encode())


class Stuck:
    """A listener busy with her first message until released: the rest pile up in her inbox."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, viewer: Viewer, message: str | bytes) -> None:
        await self.release.wait()


@asynccontextmanager
async def echo_server(listener: Listener | None = None) -> AsyncIterator[
        tuple[BaseTestServer, list[Viewer], list[weakref.ref[web.Request]]]]:
    viewers: list[Viewer] = []
    requests: list[weakref.ref[web.Request]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        viewer = Viewer("s1", "u1", "resident")
        await viewer.accept(request)
        viewer.start()
        viewer.listen(listener or Echo())
        viewers.append(viewer)
        requests.append(weakref.ref(request))
        return TakenOver()

    app = web.Application()
    app.add_routes([web.get("/ws", handler)])
    async with TestServer(app) as server:
        yield server, viewers, requests


def client(server: BaseTestServer) -> connect:
    return connect(f"ws://127.0.0.1:{server.port}/ws", compression=None, ping_interval=None, max_size=2**20)


async def test_messages_fragments_and_pings_reach_the_listener_in_order() -> None:
    async with echo_server() as (server, viewers, _), client(server) as ws:
        await ws.send("第一")
        await ws.send(["分", "片", "的"])  # one text message in three fragments
        await ws.send(b"\x00\x01")
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        answers = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
        assert answers == [{"kind": "text", "size": 2, "head": "第一"}, {"kind": "text", "size": 3, "head": "分片的"},
                           {"kind": "binary", "size": 2, "head": "b'\\x00\\x01'"}]
        await ws.close()
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.protocol.close_code == 1000
        await until_gone(viewers[0])


async def until_gone(viewer: Viewer) -> None:
    """Her socket closed on the server's side (a close frame sent is not enough)."""
    for _ in range(500):
        if viewer.gone:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the viewer's socket did not close")


@pytest.mark.parametrize(("wire", "code"), [
    (masked(Opcode.TEXT, b"\xff\xfe"), 1007),  # not UTF-8
    (masked(Opcode.TEXT, b"x" * (MAX_MESSAGE + 1)), MESSAGE_TOO_BIG),
    (masked(Opcode.TEXT, b"x" * 9000, fin=False) + masked(Opcode.CONT, b"x" * 9000), MESSAGE_TOO_BIG),
    (masked(Opcode.CONT, b"lost"), PROTOCOL_ERROR),  # a continuation of nothing
    # empty fragments, which add nothing to the size: their number is bounded too
    (masked(Opcode.TEXT, b"a", fin=False) + masked(Opcode.CONT, b"", fin=False) * 5000, MESSAGE_TOO_BIG),
    (masked(Opcode.TEXT, b"a", fin=False) + masked(Opcode.TEXT, b"b"), PROTOCOL_ERROR),  # a message inside one
    (b"\x81\x02hi", PROTOCOL_ERROR),  # unmasked
])
async def test_a_client_that_breaks_the_protocol_is_closed_with_the_code_that_says_how(wire: bytes, code: int) -> None:
    async with echo_server() as (server, viewers, _), client(server) as ws:
        ws.transport.write(wire)  # below the client's own checks
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.protocol.close_code == code
        await until_gone(viewers[0])


async def test_aiohttp_lets_go_of_a_connection_the_viewer_took_over() -> None:
    """Once the socket is the viewer's, aiohttp's request (with its headers, parser and websocket reader)
    is garbage and its server no longer lists the connection, while the viewer still talks to her."""
    async with echo_server() as (server, viewers, requests), client(server) as ws:
        await ws.send("hello")
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["head"] == "hello"
        gc.collect()
        assert requests[0]() is None
        assert server.runner is not None and server.runner.server is not None
        assert server.runner.server.connections == []
        viewers[0].offer(b'{"still":"here"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"still": "here"}


async def test_a_close_from_the_server_waits_for_hers_and_ends_the_socket() -> None:
    async with echo_server() as (server, viewers, _), client(server) as ws:
        await ws.send("hi")
        await asyncio.wait_for(ws.recv(), 5)
        viewers[0].close(4009, b"reconnect")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert (ws.protocol.close_code, ws.protocol.close_reason) == (4009, "reconnect")
        await until_gone(viewers[0])
        viewers[0].offer(b'{"after":"close"}')  # written nowhere, raising nothing


async def test_a_client_that_never_answers_a_close_is_dropped_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stream.viewer.CLOSE_WAIT_S", 0.2)
    async with echo_server() as (server, viewers, _):
        reader, writer = await handshake(server)
        for _ in range(500):
            if viewers:
                break
            await asyncio.sleep(0.01)
        viewers[0].close(1001, b"going away")
        assert await asyncio.wait_for(reader.readexactly(14), 5) == b"\x88\x0c\x03\xe9going away"
        # She never answers: the socket is dropped CLOSE_WAIT_S later (a reset or an end, as the kernel has it).
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_a_client_that_pings_and_never_reads_does_not_grow_the_servers_buffer() -> None:
    async with echo_server() as (server, viewers, _):
        _, writer = await handshake(server, rcvbuf=4096)
        ping = masked(Opcode.PING, b"p" * 125)
        for _ in range(40):  # 5 MB of pings, none of their pongs read
            writer.write(ping * 1000)
            await writer.drain()
        await asyncio.sleep(0.2)
        assert viewers[0].backlog < 2**20
        writer.close()


async def test_a_close_while_her_reading_is_paused_still_hears_her_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst fills her inbox and pauses reading; our close resumes it, so her close reply ends the socket
    at once rather than at CLOSE_WAIT_S."""
    monkeypatch.setattr("stream.viewer.CLOSE_WAIT_S", 30)
    stuck = Stuck()
    async with echo_server(stuck) as (server, viewers, _), client(server) as ws:
        ws.transport.write(masked(Opcode.TEXT, b"burst") * 200)
        await asyncio.sleep(0.3)  # her first message held, the rest in her inbox: her socket no longer read
        viewers[0].close(4009, b"reconnect")
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(ws.wait_closed(), 20)
        assert ws.protocol.close_code == 4009
        assert asyncio.get_running_loop().time() - started < 5
        stuck.release.set()


async def handshake(server: BaseTestServer, rcvbuf: int | None = None) -> tuple[asyncio.StreamReader,
                                                                              asyncio.StreamWriter]:
    """A raw client past the opening handshake, reading only when the test reads (into a small kernel
    buffer when ``rcvbuf`` says so)."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 101")
    return reader, writer
