"""Starting and stopping the live rooms of one web process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from stream.context import Live
from stream.deadlines import sweep_forever

GOING_AWAY = 1001


@asynccontextmanager
async def running_live(redis: Redis, engine: AsyncEngine, *, grab_rate: float = 5.0) -> AsyncIterator[Live]:
    """The process's Live with its hub, stock ticker and deadline sweeper running until exit."""
    live = Live.build(redis, engine, grab_rate=grab_rate)
    with contextlib.suppress(RedisError, OSError):
        # An optimisation only: every call recovers from NOSCRIPT.
        await live.inventory.prepare()
        await live.scripts.load(redis)
    await live.hub.start()
    live.stock.start()
    sweeper = asyncio.create_task(sweep_forever(live), name="deadline-sweeper")
    try:
        yield live
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await live.stock.stop()
        await live.hub.stop()


async def close_viewers(live: Live) -> None:
    """Close every websocket with 1001 (going away): clients reconnect elsewhere and resync."""
    for room in list(live.hub.rooms.values()):
        for viewer in list(room):
            await viewer.ws.close(code=GOING_AWAY, message=b"server shutting down")
