"""Publishing live events: numbered and published in one Redis call, encoded once.

Stock changes are coalesced: a grab marks its item, and a ticker publishes each marked
item's current count at most every 100 ms across all web processes, and at once when it
sells out, so a sold-out item is never left showing stock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra.tasks import cancel_and_wait
from stream import keys
from stream.history import HISTORY_LEN
from stream.protocol import encoder
from stream.scripts import Scripts

log = logging.getLogger(__name__)
STOCK_INTERVAL_MS = 100
# In a crowded room each stock event costs one frame per viewer, so it goes out less often there:
# at 2,000 viewers ten events a second were half of the web process's time (docs/benchmarks.md).
CROWDED_ROOM = 1000
CROWDED_STOCK_INTERVAL_MS = 250


class Publisher:
    """Publish broadcast events to every viewer of a session, on every web process."""

    def __init__(self, redis: Redis, scripts: Scripts) -> None:
        self.redis = redis
        self.script = scripts.publish_event

    async def publish(self, sid: str, event: msgspec.Struct) -> int:
        """Encode once, number and publish; returns the event's seq."""
        return int(await self.script(self.redis, [keys.event_seq(sid), keys.history(sid)],
                                     [keys.channel(sid), encoder.encode(event), HISTORY_LEN]))


class StockTicker:
    """Coalesce stock changes into at most ~10 events per second per item (4 in crowded rooms)."""

    def __init__(self, redis: Redis, scripts: Scripts, room_size: Callable[[str], int] = lambda sid: 0) -> None:
        self.redis = redis
        self.script = scripts.publish_stock
        self.room_size = room_size  # viewers of a session across all web processes, as last heard
        self._dirty: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None

    async def _publish(self, sid: str, iid: str, force: bool) -> int | None:
        """Publish the item's current stock unless the gate held it back; the units, or None."""
        crowded = self.room_size(sid) >= CROWDED_ROOM
        left = await self.script(
            self.redis, [keys.item_stock(sid, iid), keys.stock_gate(sid, iid), keys.event_seq(sid), keys.history(sid)],
            [keys.channel(sid), iid, CROWDED_STOCK_INTERVAL_MS if crowded else STOCK_INTERVAL_MS, 1 if force else 0,
             HISTORY_LEN],
        )
        return None if int(left) < 0 else int(left)

    async def publish_now(self, sid: str, iid: str) -> None:
        """Publish an item's stock at once (for processes that run no ticker, like the scheduler)."""
        await self._publish(sid, iid, force=True)

    async def changed(self, sid: str, iid: str, left: int) -> None:
        """Note a stock change; a sell-out is published at once."""
        if left <= 0:
            await self._publish(sid, iid, force=True)
            self._dirty.discard((sid, iid))
        else:
            self._dirty.add((sid, iid))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(STOCK_INTERVAL_MS / 1000)
            for sid, iid in list(self._dirty):
                try:
                    if await self._publish(sid, iid, force=False) is not None:
                        self._dirty.discard((sid, iid))
                except RedisError as exc:
                    log.warning("stock publish failed, will retry: %s", exc)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="stock-ticker")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
