"""Load the Lua scripts once and call them by SHA, recovering from NOSCRIPT.

After a Redis restart, a failover or SCRIPT FLUSH the server forgets every script;
the first call then gets NOSCRIPT, which means the script did not run, so loading it
again and retrying is safe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError


@dataclass(frozen=True, slots=True)
class LuaScript:
    """One script's source and SHA1."""

    name: str
    source: str
    sha: str

    @classmethod
    def packaged(cls, name: str) -> LuaScript:
        source = (resources.files("inventory.lua") / f"{name}.lua").read_text(encoding="utf-8")
        return cls(name, source, hashlib.sha1(source.encode()).hexdigest())

    async def __call__(self, redis: Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)


def is_noscript(result: object) -> bool:
    """Whether one pipelined result is a NOSCRIPT error."""
    return isinstance(result, NoScriptError) or (
        isinstance(result, ResponseError) and str(result).startswith("NOSCRIPT")
    )


class Scripts:
    """Every inventory script, loaded once."""

    def __init__(self) -> None:
        self.reserve_stock = LuaScript.packaged("reserve_stock")
        self.release_order = LuaScript.packaged("release_order")
        self.load_stock = LuaScript.packaged("load_stock")
        self.set_sale = LuaScript.packaged("set_sale")

    def all(self) -> list[LuaScript]:
        return [self.reserve_stock, self.release_order, self.load_stock, self.set_sale]

    async def load(self, redis: Redis) -> None:
        """Load every script now so the first sale call needs no extra round trip."""
        for script in self.all():
            await redis.script_load(script.source)
