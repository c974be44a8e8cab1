"""One websocket connection of a live room: who she is, the ordered, bounded way frames reach her, and
her frames read off the socket.

The connection is the Viewer's own once aiohttp has answered the handshake (infra.websocket): an idle
viewer is her socket and this object, with no request, reader, writer or task held for her. A frame
goes straight onto the socket in the broadcast pass when nothing of hers is waiting and her
transport's buffer is under its high-water mark: that is how a plain `websockets.broadcast()` or an
aiohttp loop of `send_str` reaches a socket, with no task wake-up per viewer. Only a viewer whose
socket cannot take the bytes gets a queue and a task that drains it; when the queue holds more than
SEND_QUEUE frames she is cut off (4008) and resyncs from a snapshot on reconnect. Order holds because
every write is a synchronous `transport.write` of whole frames and a frame skips the queue only when
the queue is empty.

Her text frames are handed, one at a time and in order, to the room's ``Listener``, by a task that
lives only while frames of hers wait; pings are answered and her close is returned here.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from infra import metrics
from infra.websocket import (
    CLOSE,
    CONTINUATION,
    INVALID_DATA,
    MESSAGE_TOO_BIG,
    PING,
    PONG,
    PROTOCOL_ERROR,
    TEXT,
    FrameError,
    close_code_of,
    close_frame,
    read_frames,
    server_frame,
    take_over,
)
from stream.frames import event_seq

SEND_QUEUE = 512  # frames a viewer may fall behind before it is cut off
MAX_MESSAGE = 16 * 1024  # the largest message a client may send, fragments together
MAX_FRAGMENTS = 64  # the most pieces a message may come in
PING_FRAME = b"\x89\x00"  # an empty server ping (FIN, opcode 9, unmasked, no payload)
SLOW_CLOSE_CODE = 4008  # "too slow: reconnect for a fresh snapshot"
CLOSE_WAIT_S = 5.0  # after our close frame, how long her close may take before the socket is dropped
_INBOX = 32  # her frames waiting to be handled before her socket is no longer read
_SEQ_ROOM = 32  # bytes after the header that hold '{"seq":<n>,' whatever n is


def text_frame(payload: bytes) -> bytes:
    """A whole server-to-client WebSocket text frame (FIN, unmasked, uncompressed) around ``payload``.

    The same bytes suit every viewer of the room, so the hub builds one per event, not one per viewer."""
    return server_frame(TEXT, payload)


def frame_seq(frame: bytes) -> int | None:
    """The seq of the event a frame built by ``text_frame`` carries (None for a reply to one viewer)."""
    start = 2 if frame[1] < 126 else 4 if frame[1] == 126 else 10
    return event_seq(frame[start:start + _SEQ_ROOM])


class Listener(Protocol):
    """What handles a viewer's messages: a text frame's string, or a binary frame's bytes."""

    async def __call__(self, viewer: Viewer, message: str | bytes) -> None: ...


class Viewer(asyncio.Protocol):
    """One websocket connection: her identity, her frames written at once or queued in order, and hers read."""

    # Slots: one of these per viewer, tens of thousands per process, each without a dict.
    __slots__ = ("_close_timer", "_closed", "_drainer", "_gone", "_high", "_inbox", "_listener", "_on_gone",
                 "_parts", "_rx", "_serving", "_started", "_transport", "_writable", "heard", "min_seq", "name",
                 "pending", "role", "sid", "too_slow", "user_id")

    def __init__(self, sid: str, user_id: str, role: str) -> None:
        self.sid = sid
        self.user_id = user_id
        self.role = role
        self.name: str | None = None  # her masked name, as her comments show it (read at her first comment)
        self.min_seq = 0  # events at or below this seq are already in the snapshot
        self.too_slow = False
        self.heard = True  # something came from her since the last keepalive ping
        # Frames waiting for her socket, oldest first; made only for a viewer that falls behind
        # (an empty deque is ~600 bytes, a sizeable share of an idle viewer).
        self.pending: deque[bytes] | None = None
        self._transport: asyncio.Transport | None = None  # hers once accepted
        self._started = False  # until start, what is offered queues behind her first frames
        self._closed = False  # a close frame went either way: nothing more is written or handled
        self._gone = False  # her socket is closed
        self._high = 0
        self._drainer: asyncio.Task[None] | None = None
        self._writable: asyncio.Future[None] | None = None  # while her transport has paused our writing
        self._close_timer: asyncio.TimerHandle | None = None
        self._rx = b""  # the start of a frame of hers not yet whole
        # A fragmented message so far: its opcode, its fragments and their total size
        self._parts: tuple[int, list[bytes], int] | None = None
        self._inbox: deque[str | bytes] | None = None  # her messages waiting for the listener, made when needed
        self._listener: Listener | None = None
        self._serving: asyncio.Task[None] | None = None  # lives while messages of hers wait
        self._on_gone: Callable[[], None] | None = None

    # -- the connection ------------------------------------------------------------------------

    async def accept(self, request: web.Request) -> None:
        """Answer her handshake and serve her socket from here on (infra.websocket)."""
        # No per-message deflate offered: it would compress every event once per viewer, undoing "encode once".
        self._transport = transport = await take_over(request, self, web.WebSocketResponse(compress=False))
        self._high = transport.get_write_buffer_limits()[1]

    def listen(self, listener: Listener) -> None:
        """Hand her messages to ``listener`` from now on, those that came meanwhile first."""
        self._listener = listener
        if self._inbox and self._serving is None:
            self._serving = asyncio.get_running_loop().create_task(self._serve())

    def when_gone(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once her socket is closed (soon, if it is already)."""
        if self._gone:
            asyncio.get_running_loop().call_soon(callback)
        else:
            self._on_gone = callback

    @property
    def closed(self) -> bool:
        """A close frame went either way, or her socket is closed: nothing more is written or handled."""
        return self._closed or self._gone

    @property
    def gone(self) -> bool:
        """Her socket is closed."""
        return self._gone

    @property
    def backlog(self) -> int:
        """Bytes written to her socket that the kernel has not taken yet."""
        return self._transport.get_write_buffer_size() if self._transport is not None and not self._gone else 0

    def close(self, code: int, reason: bytes = b"") -> None:
        """Send her a close frame; her socket is closed when her close comes back, or CLOSE_WAIT_S after."""
        transport = self._transport
        if self._closed or transport is None or transport.is_closing():
            return
        self._closed = True
        self.pending = None
        self._inbox = None  # her frames not yet handled are not handled now
        if not transport.is_reading():
            transport.resume_reading()  # paused by a full inbox: her close reply must be read
        transport.write(close_frame(code, reason))
        self._close_timer = asyncio.get_running_loop().call_later(CLOSE_WAIT_S, transport.abort)

    def hang_up(self, payload: bytes, code: int, reason: bytes) -> None:
        """One last frame (an error saying why), then the close."""
        self.send_first(payload)
        self.close(code, reason)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # pragma: no cover - never called
        raise RuntimeError("a Viewer takes over an answered websocket (Viewer.accept)")

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = self._gone = True
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self.stop()
        self.resume_writing()  # a drainer waiting for her socket wakes to find it closed
        self._inbox = None
        on_gone, self._on_gone = self._on_gone, None
        if on_gone is not None:
            on_gone()

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # -- frames to her -------------------------------------------------------------------------

    def send_first(self, payload: bytes) -> None:
        """Write one of her first frames (the snapshot, what she missed) at once, ahead of what was offered."""
        if self._transport is not None and not self.closed:
            self._transport.write(text_frame(payload))

    def start(self) -> None:
        """From now on frames may go straight to her socket; call once her first frames (the snapshot
        or the resumed events) are sent. What queued meanwhile is sent first, skipping the snapshot's."""
        if self._transport is None or self.too_slow or self.closed:
            return
        self._started = True
        if self.pending:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    def offer(self, data: bytes) -> None:
        """Send one encoded frame payload to her, in order after everything offered before."""
        self.offer_frame(text_frame(data))

    def offer_frame(self, frame: bytes) -> None:
        """Send a frame built by ``text_frame`` (shared by the whole room), in order; written at once
        when nothing of hers waits and her socket takes it, queued otherwise, a cut past the bound."""
        if self.too_slow or self._closed:
            return
        transport = self._transport
        if (self._started and not self.pending and transport is not None
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
        if self._started and self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    def keepalive(self) -> None:
        """Called every few tens of seconds by the hub: a ping keeps mobile networks' NAT mappings open,
        and a viewer who sent nothing since the last one (not even its pong) is gone, so her socket is
        dropped. One sweep per process instead of two timers per socket.
        A viewer behind on her queue is left to its bound: her socket is busy with what she missed."""
        transport = self._transport
        if transport is None or not self._started or self.pending or self.too_slow or self.closed:
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
        self.close(SLOW_CLOSE_CODE, b"too slow: reconnect to resync")

    async def _drain(self) -> None:
        """Write her queue in order, waiting whenever her transport is over its high-water mark."""
        transport = self._transport
        assert transport is not None
        try:
            while self.pending:
                frame = self.pending.popleft()
                if self._closed or transport.is_closing():
                    self.pending = None
                    return
                if self.min_seq and not self._newer(frame):
                    continue
                transport.write(frame)
                if self._writable is not None:
                    await self._writable
            self.pending = None  # caught up: she is back on the fast path without a deque to keep
        finally:
            self._drainer = None

    # -- frames from her -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.heard = True
        if self._rx:
            data = self._rx + data
        try:
            frames, self._rx = read_frames(data, MAX_MESSAGE)
            for opcode, fin, payload in frames:
                self._frame(opcode, fin, payload)
        except FrameError as exc:
            # A peer that broke the framing is not read any further: our close, then the socket's.
            self._rx = b""
            self.close(exc.code, exc.reason.encode())
            if self._transport is not None:
                self._transport.close()

    def eof_received(self) -> None:
        return None  # she closed her side: close ours (connection_lost follows)

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> None:
        transport = self._transport
        assert transport is not None
        if opcode == CLOSE:
            code = close_code_of(payload)
            self.close(1000 if code == 1005 else code)  # her code echoed, unless we closed first
            transport.close()
            return
        if self._closed:
            return  # after our close only hers matters
        if opcode == PING:
            # Not while her socket is backed up: a client that pings and never reads would grow our buffer
            # without bound (RFC 6455 lets a pong answer only the latest ping, or none before a close).
            if self._writable is None and transport.get_write_buffer_size() < self._high:
                transport.write(server_frame(PONG, payload))
            return
        if opcode == PONG:
            return  # heard: that is all a pong is for
        if opcode == CONTINUATION:
            if self._parts is None:
                raise FrameError(PROTOCOL_ERROR, "a continuation frame with no message to continue")
            opcode, parts, size = self._parts
            parts.append(payload)
            size += len(payload)
            # Fragments are counted too: empty ones would otherwise grow the list without growing the size.
            if size > MAX_MESSAGE or len(parts) > MAX_FRAGMENTS:
                raise FrameError(MESSAGE_TOO_BIG, f"a message is at most {MAX_MESSAGE} bytes in {MAX_FRAGMENTS} pieces")
            if not fin:
                self._parts = (opcode, parts, size)
                return
            self._parts = None
            payload = b"".join(parts)
        elif self._parts is not None:
            raise FrameError(PROTOCOL_ERROR, "a new message before the last one's final fragment")
        elif not fin:
            self._parts = (opcode, [payload], len(payload))
            return
        self._message(opcode, payload)

    def _message(self, opcode: int, payload: bytes) -> None:
        message: str | bytes = payload
        if opcode == TEXT:
            try:
                message = payload.decode()
            except UnicodeDecodeError as exc:
                raise FrameError(INVALID_DATA, "a text message is UTF-8") from exc
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(message)
        transport = self._transport
        if len(inbox) >= _INBOX and transport is not None and transport.is_reading():
            transport.pause_reading()  # she sends faster than her frames are handled: TCP holds the rest
        if self._serving is None and self._listener is not None:
            self._serving = asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        """Her messages to the listener, one at a time and in order, while any wait."""
        listener, transport = self._listener, self._transport
        assert listener is not None and transport is not None
        try:
            while self._inbox and not self._closed:
                message = self._inbox.popleft()
                if len(self._inbox) < _INBOX // 2 and not transport.is_reading() and not transport.is_closing():
                    transport.resume_reading()
                await listener(self, message)
        finally:
            self._serving = None
            if not self._inbox:
                self._inbox = None  # idle again: no deque kept
