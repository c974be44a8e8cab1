"""A websocket whose handshake aiohttp answers and whose connection is then served by a protocol of ours.

aiohttp keeps, for a websocket's whole life, its parsed request with the headers, the request
handler, the reader with its queue, the writer, and two tasks with their frames: about 14 KB per
connection, most of an idle viewer's memory. A live room's ten thousand idle viewers need only
their socket. So aiohttp answers the handshake (its header checks, ``Sec-WebSocket-Accept``,
the route's guards), then ``take_over`` hands the transport to an ``asyncio.Protocol`` of ours
(``transport.set_protocol``) and tells aiohttp's request handler its connection is gone: it
forgets the connection (its server's list, keep-alive timer, request) without closing the socket,
whose transport attribute is cleared first. The route then returns ``TakenOver()``, which aiohttp
cannot write (it has no transport any more) and lets go of.

What the protocol of ours reads is RFC 6455's client-to-server framing, below: masked frames,
text and binary messages in one or more fragments, and the control frames (ping, pong, close).
Server frames are built with ``server_frame``.
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

try:  # websockets' C unmasking where it is built, its Python one elsewhere
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - wheels carry the C one
    from websockets.utils import apply_mask

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = (CONTINUATION, TEXT, BINARY)
CONTROL_OPCODES = (CLOSE, PING, PONG)

# Close codes a server sends for the peer's faults (RFC 6455 7.4.1).
PROTOCOL_ERROR, INVALID_DATA, MESSAGE_TOO_BIG = 1002, 1007, 1009
_NO_STATUS = 1005  # "no code was given": never sent on the wire


class FrameError(Exception):
    """The peer broke the framing: the connection is closed with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ClientGone(Exception):
    """The client left during the handshake: there is no socket to serve (not a store's failure)."""


class TakenOver(web.Response):
    """What a route returns once ``take_over`` has the socket: aiohttp fails to write it, harmlessly,
    for it has no transport left, and logs the request as answered with 101."""

    def __init__(self) -> None:
        super().__init__(status=101)


async def take_over(request: web.Request, protocol: asyncio.Protocol, ws: web.WebSocketResponse) -> asyncio.Transport:
    """Answer the handshake with ``ws`` (not yet prepared), then serve the connection with ``protocol``.

    Nothing can reach aiohttp's websocket reader in between: a client may send nothing before it
    reads the 101 (RFC 6455 4.1), and nothing here awaits between the 101's write and the switch."""
    try:
        await ws.prepare(request)
    except ConnectionError as exc:
        raise ClientGone from exc
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ClientGone
    handler = request.protocol
    transport.set_protocol(protocol)
    # aiohttp closes the transport it holds when told the connection is lost: it holds none now.
    handler.transport = None
    handler.connection_lost(None)
    return transport


def server_frame(opcode: int, payload: bytes) -> bytes:
    """A whole server-to-client frame (FIN, unmasked, uncompressed): the same bytes suit any client."""
    size = len(payload)
    if size < 126:
        return bytes((0x80 | opcode, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, size) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, size) + payload


def close_frame(code: int, reason: bytes = b"") -> bytes:
    """A close frame with ``code`` and a reason cut to fit a control frame's 125 bytes."""
    # Cut on a character's boundary: a reason cut inside one is not UTF-8, which the peer must refuse.
    return server_frame(CLOSE, struct.pack("!H", code) + reason[:123].decode(errors="ignore").encode())


def read_frames(data: bytes, max_size: int) -> tuple[list[tuple[int, bool, bytes]], bytes]:
    """The whole client frames at the head of ``data`` as (opcode, fin, unmasked payload), and the bytes
    of an unfinished one after them. A frame declaring more than ``max_size`` bytes is refused at its
    header, before its payload is waited for."""
    frames: list[tuple[int, bool, bytes]] = []
    at, end = 0, len(data)
    while end - at >= 2:
        first, second = data[at], data[at + 1]
        fin, opcode = bool(first & 0x80), first & 0x0F
        if first & 0x70:
            raise FrameError(PROTOCOL_ERROR, "reserved bits set without an extension")
        if not second & 0x80:
            raise FrameError(PROTOCOL_ERROR, "a client's frames must be masked")
        if opcode not in DATA_OPCODES and opcode not in CONTROL_OPCODES:
            raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        size, head = second & 0x7F, at + 2
        if opcode in CONTROL_OPCODES and (size > 125 or not fin):
            raise FrameError(PROTOCOL_ERROR, "a control frame is whole and at most 125 bytes")
        if size == 126:
            if end - head < 2:
                break
            (size,) = struct.unpack_from("!H", data, head)
            head += 2
        elif size == 127:
            if end - head < 8:
                break
            (size,) = struct.unpack_from("!Q", data, head)
            head += 8
        if size >> 63:
            raise FrameError(PROTOCOL_ERROR, "a 64-bit length's first bit must be 0")
        if size > max_size:
            raise FrameError(MESSAGE_TOO_BIG, f"a frame is at most {max_size} bytes")
        if end - head < 4 + size:
            break
        mask, start = data[head:head + 4], head + 4
        frames.append((opcode, fin, apply_mask(data[start:start + size], mask) if size else b""))
        at = start + size
    return frames, data[at:] if at else data


def close_code_of(payload: bytes) -> int:
    """The code of a client's close frame, checked (1005 when it gave none)."""
    if not payload:
        return _NO_STATUS
    if len(payload) == 1:
        raise FrameError(PROTOCOL_ERROR, "a close frame's code is two bytes")
    code: int = struct.unpack_from("!H", payload)[0]
    if not (code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
            or 3000 <= code < 5000):
        raise FrameError(PROTOCOL_ERROR, f"close code {code} may not be sent")
    try:
        payload[2:].decode()
    except UnicodeDecodeError as exc:
        raise FrameError(INVALID_DATA, "a close reason is UTF-8") from exc
    return code
