"""Starting and stopping the live rooms of one web process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.ratelimit import RateLimits
from infra.tasks import cancel_and_wait
from inventory import DurabilityUnavailable
from stream.context import Live
from stream.deadlines import sweep_forever
from stream.flash_schedule import poll_forever
from stream.hub import KEEPALIVE_S
from stream.presence import BEAT_EVERY_S
from stream.ticker import tick_forever
from stream.viewer import CLOSE_WAIT_S

GOING_AWAY = 1001
log = logging.getLogger(__name__)


async def _beat_forever(live: Live) -> None:
    while True:
        await asyncio.sleep(BEAT_EVERY_S)
        try:
            await live.presence.beat()
        except Exception:  # the heartbeat must outlive a bug in one session's handling
            log.exception("presence heartbeat failed")


@asynccontextmanager
async def running_live(redis: Redis, engine: AsyncEngine, *, grab_rate: float = 5.0, limits: RateLimits | None = None,
                       max_connections_per_user: int = 5, wait_aof: bool = False,
                       wait_replicas: int = 0, keepalive_s: float = KEEPALIVE_S) -> AsyncIterator[Live]:
    """The process's Live with its hub, presence heartbeat, stock ticker and deadline sweeper running until exit."""
    live = Live.build(redis, engine, grab_rate=grab_rate, limits=limits,
                      max_connections_per_user=max_connections_per_user, wait_aof=wait_aof,
                      wait_replicas=wait_replicas, keepalive_s=keepalive_s)
    with contextlib.suppress(RedisError, OSError):
        # An optimisation only: every call recovers from NOSCRIPT.
        await live.inventory.prepare()
        await live.scripts.load(redis)
    if wait_replicas:
        log.info("grabs are acknowledged once %d replica(s) have them (WAIT after every batch)", wait_replicas)
    if wait_aof:
        try:
            log.info("grabs are acknowledged once the AOF holding them is on disk: %s",
                     await live.inventory.durability())
        except DurabilityUnavailable as exc:
            log.error("%s", exc)  # a promise we cannot keep: refuse to start, saying why first
            raise
    await live.hub.start()
    live.stock.start()
    tasks = [asyncio.create_task(sweep_forever(live), name="deadline-sweeper"),
             asyncio.create_task(_beat_forever(live), name="presence-heartbeat"),
             asyncio.create_task(poll_forever(live), name="flash-schedule"),
             asyncio.create_task(tick_forever(live), name="purchase-ticker")]
    try:
        yield live
    finally:
        await cancel_and_wait(*tasks)
        await live.presence.forget()
        await live.stock.stop()
        await live.hub.stop()


async def close_viewers(live: Live) -> None:
    """Close every websocket with 1001 (going away): clients reconnect elsewhere and resync. Returns once
    they are gone (their close answered, or dropped CLOSE_WAIT_S after) and their joinings and leavings
    are done, so no frame of theirs is handled with the stores closing under it."""
    for room in list(live.hub.rooms.values()):
        for viewer in list(room):
            viewer.close(GOING_AWAY, b"server shutting down")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_WAIT_S + 1
    # Polled: each leaves when her socket closes, in a callback of its own; a shutdown can spare 50 ms.
    while live.hub.rooms and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if live.viewer_tasks:
        await asyncio.wait(set(live.viewer_tasks), timeout=max(deadline - loop.time(), 0.1))
