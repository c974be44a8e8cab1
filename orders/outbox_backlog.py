"""How far the outbox worker is behind, for /metrics: entries not yet in SQL, and the age of the oldest.

The worker deletes an entry (XACK, XDEL) once it is written, so what is left in a session's outbox
stream is exactly what SQL does not hold yet, and the oldest entry's id carries the millisecond
Redis added it at. Ages are taken against Redis's own clock, so a web host's clock cannot skew them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from infra import metrics

BACKLOG_EVERY_S = 1.0  # two commands per outbox each time; the worker already reads every outbox each pass


async def measure_backlog(redis: Redis, streams: list[bytes]) -> tuple[int, float]:
    """(entries not yet written to SQL, seconds since the oldest of them was added; 0 when none)."""
    if not streams:
        return 0, 0.0
    seconds, micros = await redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    pipe = redis.pipeline(transaction=False)
    for stream in streams:
        pipe.xlen(stream)
        pipe.xrange(stream, count=1)
    replies = await pipe.execute()
    entries, oldest_ms = 0, now_ms
    for length, first in zip(replies[::2], replies[1::2], strict=True):
        entries += int(length)
        if first:
            entry_id = first[0][0]
            added_ms = int((entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0])
            oldest_ms = min(oldest_ms, added_ms)
    return entries, max(0.0, (now_ms - oldest_ms) / 1000)


class Backlog:
    """The worker's backlog gauges, measured at most once per ``every_s``."""

    def __init__(self, redis: Redis, every_s: float = BACKLOG_EVERY_S) -> None:
        self.redis = redis
        self.every_s = every_s
        self._next = 0.0

    async def measure_if_due(self, streams: Callable[[], Awaitable[list[bytes]]]) -> None:
        """Measure and set the gauges when the last measure is older than ``every_s``."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        metrics.outbox_backlog(*await measure_backlog(self.redis, await streams()))
