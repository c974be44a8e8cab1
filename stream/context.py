"""What the live rooms of one web process share: stores, publisher, stock ticker, hub."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.lua import LuaScript
from inventory import Inventory
from stream.events import Publisher, StockTicker
from stream.hub import Hub


@dataclass
class Live:
    redis: Redis
    engine: AsyncEngine
    inventory: Inventory
    publisher: Publisher
    stock: StockTicker
    hub: Hub
    join_room: LuaScript
    enter_bag: LuaScript
    draw_bag: LuaScript
    grab_packet: LuaScript
    grab_rate: float = 5.0

    @classmethod
    def build(cls, redis: Redis, engine: AsyncEngine, *, grab_rate: float = 5.0) -> Live:
        inventory = Inventory(redis)
        hub = Hub(redis)
        return cls(
            redis=redis, engine=engine, inventory=inventory, publisher=Publisher(redis),
            stock=StockTicker(inventory, hub.room_size), hub=hub,
            join_room=LuaScript.packaged("stream.lua", "join_room"),
            enter_bag=LuaScript.packaged("stream.lua", "enter_lucky_bag"),
            draw_bag=LuaScript.packaged("stream.lua", "draw_lucky_bag"),
            grab_packet=LuaScript.packaged("stream.lua", "grab_red_packet"),
            grab_rate=grab_rate,
        )
