"""What the live rooms of one web process share: stores, scripts, publisher, stock ticker, hub."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory import Inventory
from stream.audience import resident_names
from stream.events import Publisher, StockTicker
from stream.hub import Hub
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
    grab_rate: float = 5.0

    @classmethod
    def build(cls, redis: Redis, engine: AsyncEngine, *, grab_rate: float = 5.0) -> Live:
        inventory = Inventory(redis)
        scripts = Scripts()
        hub = Hub(redis, scripts, resident_names(engine))
        return cls(
            redis=redis, engine=engine, inventory=inventory, scripts=scripts, publisher=Publisher(redis, scripts),
            stock=StockTicker(redis, scripts, hub.room_size), hub=hub, grab_rate=grab_rate,
        )


# The web application holds its Live here (set up by stream.api.running_live).
LIVE = web.AppKey("live", Live)
