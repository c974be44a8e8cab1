"""Inventory's Lua scripts, loaded once."""

from __future__ import annotations

from redis.asyncio import Redis

from infra.lua import LuaScript


class Scripts:
    """Every inventory script, loaded once."""

    def __init__(self) -> None:
        self.reserve_stock = LuaScript.packaged("inventory.lua", "reserve_stock")
        self.release_order = LuaScript.packaged("inventory.lua", "release_order")
        self.load_stock = LuaScript.packaged("inventory.lua", "load_stock")
        self.set_sale = LuaScript.packaged("inventory.lua", "set_sale")
        self.confirm_hold = LuaScript.packaged("inventory.lua", "confirm_hold")
        self.withdraw_stock = LuaScript.packaged("inventory.lua", "withdraw_stock")

    def all(self) -> list[LuaScript]:
        return [self.reserve_stock, self.release_order, self.load_stock, self.set_sale, self.confirm_hold,
                self.withdraw_stock]

    async def load(self, redis: Redis) -> None:
        """Load every script now so the first sale call needs no extra round trip."""
        for script in self.all():
            await redis.script_load(script.source)
