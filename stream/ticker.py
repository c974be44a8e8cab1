"""The purchase ticker: "王*香 等 12 人刚刚下单", from real grabs only, batched every few seconds.

Where a grab's reserve succeeds (the grab frame, a comment that grabs, a grid worker's grab for a
resident) the buyer is appended to the session's ticker list (``note_purchase.lua``, which also
counts the grab and its revenue for the host's live chart; stream/purchases.py batches the
notes). Every web process beats every
``TICK_S`` for each session it has viewers in, but the beat is a lock in Redis
(``tick_session.lua``): one process per session per beat drains the list and publishes one
``buyers`` event, so the room hears one ticker however many processes serve it. The count is the
number of different people in the batch: never more than the grabs that succeeded.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from infra.resources import as_str
from stream import keys
from stream.audience import resident_names, sees_ids
from stream.context import Live
from stream.protocol import Buyers

log = logging.getLogger(__name__)

TICK_S = 2.0
NAMES_SHOWN = 3


async def tick(live: Live, sid: str) -> Buyers | None:
    """One beat of a session's ticker: the buyers event published by this process, or None."""
    drained = await live.scripts.tick_session(
        live.redis, [keys.ticker_lock(sid), keys.ticker_buyers(sid), keys.viewers(sid), keys.insight(sid, "viewers")],
        [live.hub.process_id, int(TICK_S * 1000)])
    if not drained:
        return None  # another process holds this beat, or nobody bought
    buyers = list(dict.fromkeys(as_str(u) for u in drained))  # distinct, first buyer first
    names = await resident_names(live.engine)(buyers[:20])
    event = Buyers(count=len(buyers), names=[names[u] for u in buyers if u in names][:NAMES_SHOWN])
    await live.publisher.publish(sid, event)
    return event


async def tick_forever(live: Live) -> None:
    while True:
        await asyncio.sleep(TICK_S)
        for sid in list(live.hub.rooms):
            try:
                await tick(live, sid)
            except RedisError as exc:
                log.warning("purchase ticker of session %s failed: %s", sid, exc)
            except Exception:  # the ticker must outlive a bug in one session's beat
                log.exception("purchase ticker of session %s failed", sid)


async def note_viewer(live: Live, sid: str, user_id: str, role: str) -> None:
    """Count a joining viewer among the session's people for the after-live conversion figure
    (staff who run the room are not its audience)."""
    if sees_ids(role):
        return
    try:
        await live.redis.sadd(keys.seen_viewers(sid), user_id)
    except RedisError as exc:
        log.warning("could not count a viewer for the summary: %s", exc)
