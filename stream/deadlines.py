"""The deadline sweeper: closes flash sales and draws lucky bags when their time comes.

Every web process sweeps the same sorted set. Closing and drawing are idempotent scripts,
so whichever process gets there first acts and publishes; the others change nothing.
An entry is removed only after its action succeeded, so a crash mid-way is retried.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from infra.errors import DomainError
from infra.resources import as_str
from stream import keys
from stream.context import Live
from stream.lucky import draw_bag
from stream.sessions import close_flash, now_ms

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 0.1


async def sweep_once(live: Live) -> int:
    """Act on every due deadline; returns how many were handled."""
    due = await live.redis.zrangebyscore(keys.DEADLINES, "-inf", now_ms(), start=0, num=100)
    handled = 0
    for member in due:
        # Without WITHSCORES every member is a string; redis-py's type also allows the scored pairs.
        if not isinstance(member, (bytes, str)):
            continue
        kind, sid, ident, *rest = as_str(member).split("|")
        try:
            if kind == "flash":
                await close_flash(live, sid, ident, int(rest[0]))
            elif kind == "bag" and await draw_bag(live, sid, ident) is None:
                continue  # the server clock says not yet; try again next sweep
        except DomainError as exc:
            log.warning("dropping deadline %s: %s", member, exc)
        await live.redis.zrem(keys.DEADLINES, member)
        handled += 1
    return handled


async def sweep_forever(live: Live) -> None:
    while True:
        try:
            await sweep_once(live)
        except (RedisError, OSError) as exc:
            log.warning("deadline sweep failed, retrying: %s", exc)
        except Exception:  # the sweeper must outlive a bug in one deadline's handling
            log.exception("deadline sweep failed")
        await asyncio.sleep(SWEEP_EVERY_S)
