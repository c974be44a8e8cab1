"""Lua scripts called by SHA, recovering from NOSCRIPT.

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
    def packaged(cls, package: str, name: str) -> LuaScript:
        """The script ``<name>.lua`` shipped in ``package``."""
        source = (resources.files(package) / f"{name}.lua").read_text(encoding="utf-8")
        return cls(name, source, hashlib.sha1(source.encode()).hexdigest())

    async def __call__(self, redis: Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)


def is_noscript(result: object) -> bool:
    """Whether one pipelined result is a NOSCRIPT error (the call did not run)."""
    return isinstance(result, NoScriptError) or (
        isinstance(result, ResponseError) and str(result).startswith("NOSCRIPT")
    )
