"""Successful grabs noted for the purchase ticker and the live chart, many per Redis call.

Every successful grab is noted (``note_purchase.lua``: the buyer joins the ticker list, the grab
and its revenue are counted for the chart). One call per grab through redis-py was the largest
single cost of a grab in the web process (about a quarter of its CPU in a 2,000-grabber flash
sale, py-spy). So notes coalesce as reserves do: while one session's call is on the wire the
next notes of that session queue up and go as the next call, and the calls of all sessions share
pipelined round trips (inventory's ScriptBatcher). ``note`` returns once its call has run; the grab
path's ``note_soon`` does not wait.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis

from infra.lua import LuaScript
from inventory import ScriptBatcher
from stream import keys

log = logging.getLogger(__name__)
# item, buyer, units, and the future of a caller who waits for the note (None: nobody waits)
_Note = tuple[str, str, int, "asyncio.Future[None] | None"]
MAX_WAITING = 100_000  # buyers kept for the next beat; a room that no one serves cannot grow it forever


class Purchases:
    """Note successful grabs in batches: one note_purchase.lua call per session at a time."""

    def __init__(self, redis: Redis, script: LuaScript) -> None:
        self._batcher = ScriptBatcher(redis, script)
        self._queued: dict[str, list[_Note]] = {}
        self._flushing: dict[str, asyncio.Task[None]] = {}

    async def note(self, sid: str, iid: str, user_id: str, qty: int) -> None:
        """Count one successful grab of ``qty`` units of an item (call once per new order); returns
        once it is counted, raises what Redis raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue(sid, (iid, user_id, qty, done))
        await done

    def note_soon(self, sid: str, iid: str, user_id: str, qty: int) -> None:
        """Count one successful grab without waiting for it: the grab path's way, so a grabber's next
        frame is read at once and no future is made per grab; a failure is logged (the order stands)."""
        self._queue(sid, (iid, user_id, qty, None))

    def _queue(self, sid: str, note: _Note) -> None:
        self._queued.setdefault(sid, []).append(note)
        if sid not in self._flushing:
            self._flushing[sid] = asyncio.create_task(self._flush(sid))

    async def _flush(self, sid: str) -> None:
        try:
            while batch := self._queued.pop(sid, None):
                try:
                    await self._batcher.call(*self._call(sid, batch))
                except Exception as exc:  # noqa: BLE001 - every waiter hears of it
                    waited = [note[3] for note in batch if note[3] is not None]
                    for waiter in waited:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    if len(waited) < len(batch):
                        log.warning("could not note %d purchases for the ticker: %s", len(batch) - len(waited), exc)
                    continue
                for *_, done in batch:
                    if done is not None and not done.done():  # a waiter gone away: counted all the same
                        done.set_result(None)
        finally:
            del self._flushing[sid]

    @staticmethod
    def _call(sid: str, batch: list[_Note]) -> tuple[list[str], list[Any]]:
        units: dict[str, int] = {}
        for iid, _, qty, _ in batch:
            units[iid] = units.get(iid, 0) + qty
        return ([keys.ticker_buyers(sid), keys.insight(sid, "grabs"), keys.insight(sid, "revenue"),
                 *(keys.item_stock(sid, iid) for iid in units)],
                [MAX_WAITING, len(batch), *(user for _, user, _, _ in batch), *units.values()])
