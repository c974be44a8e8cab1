"""One websocket connection of a live room: who she is, and the ordered, bounded way frames reach her.

A frame goes straight onto the socket in the broadcast pass when nothing of hers is waiting and her
transport's buffer is under its high-water mark: that is how a plain `websockets.broadcast()` or an
aiohttp loop of `send_str` reaches a socket, with no task wake-up per viewer. Only a viewer whose
socket cannot take the bytes gets a queue and a task that drains it; when the queue holds more than
SEND_QUEUE frames she is cut off (4008) and resyncs from a snapshot on reconnect.

Order holds because every write is a synchronous `transport.write` and a frame skips the queue only
when the queue is empty. aiohttp writes uncompressed frames the same way (its `send_frame` writes
before it awaits anything), so the handler's own sends before `start` (the snapshot, a resume) and
aiohttp's pings interleave with ours at frame boundaries only.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from infra import metrics
from stream.frames import event_seq

SEND_QUEUE = 512  # frames a viewer may fall behind before it is cut off
PING_FRAME = b"\x89\x00"  # an empty server ping (FIN, opcode 9, unmasked, no payload)
SLOW_CLOSE_CODE = 4008  # "too slow: reconnect for a fresh snapshot"
_SEQ_ROOM = 32  # bytes after the header that hold '{"seq":<n>,' whatever n is


def text_frame(payload: bytes) -> bytes:
    """A whole server-to-client WebSocket text frame (FIN, unmasked, uncompressed) around ``payload``.

    The same bytes suit every viewer of the room, so the hub builds one per event, not one per viewer."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def frame_seq(frame: bytes) -> int | None:
    """The seq of the event a frame built by ``text_frame`` carries (None for a reply to one viewer)."""
    start = 2 if frame[1] < 126 else 4 if frame[1] == 126 else 10
    return event_seq(frame[start:start + _SEQ_ROOM])


class Viewer:
    """One websocket connection: her identity, and her frames written at once or queued in order."""

    # Slots: one of these per viewer, tens of thousands per process, each without a dict.
    __slots__ = ("_closing", "_drainer", "_high", "_transport", "_writer", "heard", "min_seq", "name", "pending",
                 "role", "sid", "too_slow", "user_id", "ws")

    def __init__(self, ws: web.WebSocketResponse, sid: str, user_id: str, role: str) -> None:
        self.ws = ws
        self.sid = sid
        self.user_id = user_id
        self.role = role
        self.name: str | None = None  # her masked name, as her comments show it (read at her first comment)
        self.min_seq = 0  # events at or below this seq are already in the snapshot
        self.too_slow = False
        self.heard = True  # something came from her since the last keepalive ping (set by her handler)
        # Frames waiting for her socket, oldest first; made only for a viewer that falls behind
        # (an empty deque is ~600 bytes, a sizeable share of an idle viewer).
        self.pending: deque[bytes] | None = None
        self._transport: asyncio.Transport | None = None  # None until start: everything queues
        self._writer: AbstractStreamWriter | None = None
        self._high = 0
        self._drainer: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[bool] | None = None  # held so the close is not garbage-collected

    def start(self, request: web.Request) -> None:
        """From now on frames may go straight to her socket; call once her first frames (the snapshot
        or the resumed events) are sent. What queued meanwhile is sent first, skipping the snapshot's."""
        transport = request.transport
        if transport is None or self.too_slow:
            return
        self._transport = transport
        self._writer = request.writer
        self._high = transport.get_write_buffer_limits()[1]
        if self.pending:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    def offer(self, data: bytes) -> None:
        """Send one encoded frame payload to her, in order after everything offered before."""
        self.offer_frame(text_frame(data))

    def offer_frame(self, frame: bytes) -> None:
        """Send a frame built by ``text_frame`` (shared by the whole room), in order; written at once
        when nothing of hers waits and her socket takes it, queued otherwise, a cut past the bound."""
        if self.too_slow:
            return
        transport = self._transport
        if (transport is not None and not self.pending and not self.ws.closed
                and transport.get_write_buffer_size() < self._high and not transport.is_closing()):
            if self.min_seq and not self._newer(frame):
                return
            transport.write(frame)
            return
        pending = self.pending
        if pending is None:
            pending = self.pending = deque()
        if len(pending) >= SEND_QUEUE:
            self._cut()
            return
        pending.append(frame)
        if transport is not None and self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    def keepalive(self) -> None:
        """Called every few tens of seconds by the hub: a ping keeps mobile networks' NAT mappings open,
        and a viewer who sent nothing since the last one (not even its pong) is gone, so her socket is
        dropped. One sweep per process instead of aiohttp's two timers per socket (~1.7 KB a viewer).
        A viewer behind on her queue is left to its bound: her socket is busy with what she missed."""
        transport = self._transport
        if transport is None or self.pending or self.too_slow or transport.is_closing():
            return
        if not self.heard:
            transport.abort()  # no close handshake with a peer that stopped answering
            return
        self.heard = False
        transport.write(PING_FRAME)

    async def flush(self) -> None:
        """Wait until every frame queued so far is on her socket (or she is gone)."""
        if self._drainer is not None:
            await asyncio.wait({self._drainer})  # not the drainer's own end: a cut cancels it

    def stop(self) -> None:
        """Her connection is over: drop what waits and stop its drainer."""
        if self._drainer is not None:
            self._drainer.cancel()
        self.pending = None

    def _newer(self, frame: bytes) -> bool:
        # Events come in seq order, so the first one past the snapshot ends the filtering.
        seq = frame_seq(frame)
        if seq is None:
            return True
        if seq <= self.min_seq:
            return False
        self.min_seq = 0
        return True

    def _cut(self) -> None:
        self.too_slow = True
        metrics.viewer_cut()
        self.pending = None
        if self._drainer is not None:
            self._drainer.cancel()
        self._closing = asyncio.get_running_loop().create_task(
            self.ws.close(code=SLOW_CLOSE_CODE, message=b"too slow: reconnect to resync"))

    async def _drain(self) -> None:
        """Write her queue in order, waiting whenever her transport is over its high-water mark."""
        transport, writer = self._transport, self._writer
        assert transport is not None and writer is not None
        try:
            while self.pending:
                frame = self.pending.popleft()
                if self.ws.closed or transport.is_closing():
                    self.pending = None
                    return
                if self.min_seq and not self._newer(frame):
                    continue
                transport.write(frame)
                await writer.drain()  # returns at once unless the transport paused its writer
            self.pending = None  # caught up: she is back on the fast path without a deque to keep
        except ConnectionError:
            self.pending = None  # she is gone; her handler sees the closed socket and leaves
        finally:
            self._drainer = None
