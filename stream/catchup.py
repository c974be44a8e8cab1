"""No silent gap in a session's events on this web process, whatever happened to its subscription.

Every broadcast event carries the session's seq, and the scripts that number it publish it in the
same step, so on one subscription seqs arrive strictly one after another. The hub hands each event
here first: one at or below the last handed on is a copy (already delivered from the history) and
is dropped; one past a jump means some were missed, and those are read from the session's history
(stream.history) and handed on first, in order. After a resubscription (a failover, a moved slot,
a dropped connection) the same filling runs at once, before any later message, so a quiet room
learns of what it missed too. The history must still hold the last event handed on, unchanged:
after a failover the promoted replica may lack the newest events (replication is asynchronous) and
number new ones with the same seqs. When it does not, when the history no longer holds the missed
events, or when they are more than a viewer's queue should take at once, the session's local viewers
are told to resync (closed: they reconnect with ``since`` and get the rest or a snapshot).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from stream import keys
from stream.frames import event_seq

log = logging.getLogger(__name__)

# Half a viewer's send queue (stream.viewer.SEND_QUEUE): a longer catch-up would cut the viewers that
# already had a backlog, and a snapshot on reconnect is cheaper by then anyway.
CATCH_UP_MAX_EVENTS = 256
READ_TRIES = 3

Deliver = Callable[[str, bytes], Awaitable[None]]
Resync = Callable[[str], None]


class SessionSeqs:
    """The last seq handed to each session's local viewers, and the filling of gaps from the history."""

    def __init__(self, redis: Redis, deliver: Deliver, resync: Resync) -> None:
        self.redis = redis
        self._deliver = deliver
        self._resync = resync
        self._last: dict[str, int] = {}
        self._last_text: dict[str, bytes] = {}  # the last event handed on, to see a rewritten history
        self.filled = 0  # events delivered from the history instead of pub/sub (for tests and logs)
        self.resyncs = 0

    async def start_at(self, sid: str) -> None:
        """Know where a newly subscribed session stands (its counter now), unless an event told us already."""
        if sid not in self._last:
            seq = int(await self.redis.get(keys.event_seq(sid)) or 0)
            self._last.setdefault(sid, seq)

    def forget(self, sid: str) -> None:
        """The session has no local viewers any more."""
        self._last.pop(sid, None)
        self._last_text.pop(sid, None)

    async def on_event(self, sid: str, data: bytes) -> None:
        """Hand on a published event in seq order: drop a copy, fill a gap before it."""
        seq = event_seq(data)
        last = self._last.get(sid)
        if seq is not None and last is not None:
            if seq <= last:
                return
            if seq > last + 1:
                log.warning("session %s jumped from seq %d to %d: filling in from the history", sid, last, seq)
                await self.catch_up(sid)
                if seq <= self._last.get(sid, 0):
                    return
        if seq is not None:
            self._last[sid] = seq
            self._last_text[sid] = data
        await self._deliver(sid, data)

    async def catch_up(self, sid: str) -> None:
        """Hand on every event after the last one handed on, from the history; resync when it cannot."""
        last = self._last.get(sid)
        if last is None:
            return  # nothing was ever handed on: the viewers' snapshots are newer than any gap
        frames = await self._missed(sid, last)
        if frames is None or len(frames) > CATCH_UP_MAX_EVENTS:
            log.warning("session %s: the events after seq %d cannot be filled in: its viewers resync", sid, last)
            self.forget(sid)
            self.resyncs += 1
            self._resync(sid)
            return
        if frames:
            log.info("session %s: %d events after seq %d handed on from the history", sid, len(frames), last)
        for frame in frames:
            seq = event_seq(frame)
            if seq is not None and seq > self._last.get(sid, last):
                self._last[sid] = seq
                self._last_text[sid] = frame
                self.filled += 1
                await self._deliver(sid, frame)

    async def _missed(self, sid: str, since: int) -> list[bytes] | None:
        for attempt in range(READ_TRIES):
            try:
                return await self._read_after(sid, since)
            except RedisError as exc:  # the session's node may still be settling after a failover
                log.warning("reading the history of %s failed (%s)", sid, exc)
                await asyncio.sleep(0.2 * (attempt + 1))
        return None

    async def _read_after(self, sid: str, since: int) -> list[bytes] | None:
        """The events after ``since`` from the history; None unless it holds all of them and, when
        known, the event ``since`` itself as it was handed on."""
        pipe = self.redis.pipeline(transaction=True)  # the counter and the history as of one moment
        pipe.get(keys.event_seq(sid))
        pipe.xrange(keys.history(sid), min=f"{since}-0", max="+")
        raw_seq, entries = await pipe.execute()
        counter = int(raw_seq or 0)
        frames = [fields[b"e"] for _id, fields in entries]
        seen = self._last_text.get(sid)
        if frames and event_seq(frames[0]) == since:
            if seen is not None and frames[0] != seen:
                return None  # another event under that seq: the history lost what we handed on
            frames = frames[1:]
        elif seen is not None:
            return None  # trimmed past it, or lost
        if counter < since or len(frames) != counter - since:
            return None
        if any(event_seq(frame) != n for n, frame in enumerate(frames, start=since + 1)):
            return None
        return frames
