"""What the live rooms of one web process share: stores, scripts, publisher, stock ticker, hub."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.ratelimit import RateLimits
from inventory import Inventory
from stream.audience import resident_names
from stream.events import Publisher, StockTicker
from stream.hub import KEEPALIVE_S, Hub
from stream.limits import GrabLimits
from stream.presence import Presence
from stream.purchases import Purchases
from stream.scripts import Scripts


@dataclass
class Live:
    redis: Redis
    engine: AsyncEngine
    inventory: Inventory
    scripts: Scripts
    publisher: Publisher
    stock: StockTicker
    hub: Hub
    presence: Presence
    purchases: Purchases  # successful grabs for the ticker and the live chart, noted in batches
    grab_rate: float = 5.0
    limits: RateLimits | None = None  # per user and per address, across processes (None: per connection only)
    grab_limits: GrabLimits | None = None  # the same for grabs, by the sale's own script
    # Viewers' joinings and leavings under way: a viewer's socket is served in callbacks, and what awaits
    # runs in tasks of its own, held here until done
    viewer_tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def build(cls, redis: Redis, engine: AsyncEngine, *, grab_rate: float = 5.0, limits: RateLimits | None = None,
              max_connections_per_user: int = 5, wait_aof: bool = False, wait_replicas: int = 0,
              keepalive_s: float = KEEPALIVE_S) -> Live:
        inventory = Inventory(redis, wait_aof=wait_aof, wait_replicas=wait_replicas)
        scripts = Scripts()
        hub = Hub(redis, scripts, resident_names(engine), keepalive_s=keepalive_s)
        return cls(
            redis=redis, engine=engine, inventory=inventory, scripts=scripts, publisher=Publisher(redis, scripts),
            stock=StockTicker(redis, scripts, hub.room_size), hub=hub,
            presence=Presence(redis, scripts, hub.process_id, max_per_user=max_connections_per_user),
            purchases=Purchases(redis, scripts.note_purchase),
            grab_rate=grab_rate, limits=limits,
            grab_limits=GrabLimits(redis, scripts.limit_grabs, limits.policy) if limits else None,
        )


# The web application holds its Live here (set up by stream.api.running_live).
LIVE = web.AppKey("live", Live)
