"""One websocket connection of a live room: who she is and her bounded, ordered send queue."""

from __future__ import annotations

import asyncio
from collections import deque

from aiohttp import WSMsgType, web

from stream.frames import event_seq

SEND_QUEUE = 512  # events a viewer may fall behind before it is cut off
SLOW_CLOSE_CODE = 4008  # "too slow: reconnect for a fresh snapshot"


class Viewer:
    """One websocket connection: its identity and its bounded send queue.

    The queue is a plain deque and a future the writer waits on: with thousands of viewers,
    asyncio.Queue's bookkeeping on every put was a sizeable share of a broadcast's cost."""

    def __init__(self, ws: web.WebSocketResponse, sid: str, user_id: str, role: str) -> None:
        self.ws = ws
        self.sid = sid
        self.user_id = user_id
        self.role = role
        self.name = ""  # her masked name, as her comments show it to neighbours (set on joining)
        self.pending: deque[bytes | None] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self.min_seq = 0  # events at or below this seq are already in the snapshot
        self.too_slow = False
        self._closing: asyncio.Task[bool] | None = None  # held so the close is not garbage-collected

    def offer(self, data: bytes | None) -> None:
        """Queue a frame (None: finish); a viewer that fell too far behind is disconnected instead."""
        if self.too_slow:
            return
        if len(self.pending) >= SEND_QUEUE:
            self.too_slow = True
            self.pending.clear()
            self._closing = asyncio.get_running_loop().create_task(
                self.ws.close(code=SLOW_CLOSE_CODE, message=b"too slow: reconnect to resync"))
            return
        self.pending.append(data)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def write_loop(self) -> None:
        """The only writer of this socket: drain the queue in order until told to finish."""
        while True:
            while self.pending:
                data = self.pending.popleft()
                if data is None or self.ws.closed:
                    return
                if self.min_seq and (seq := event_seq(data)) is not None:
                    if seq <= self.min_seq:
                        continue
                    self.min_seq = 0  # from here on every event is newer
                await self.ws.send_frame(data, WSMsgType.TEXT)
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
