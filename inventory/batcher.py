"""Coalesce concurrent calls of one script into pipelined round trips.

While one batch is on the wire, new calls queue up; when it returns, everything that
queued is sent as the next batch. A lone call goes out at once (no added latency), a
crowd shares round trips. Each caller gets its own result, in arrival order, because a
pipeline runs its commands in the order they were sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from inventory.scripts import LuaScript, is_noscript


class ScriptBatcher:
    """Send concurrent calls of one Lua script as pipelines, one batch in flight at a time."""

    def __init__(self, redis: Redis, script: LuaScript, max_batch: int = 512) -> None:
        self._redis = redis
        self._script = script
        self._max_batch = max_batch
        self._queue: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def call(self, keys: list[str], args: list[Any]) -> Any:
        """Run the script once for this caller, sharing a round trip with concurrent callers."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                try:
                    results = await self._send(batch)
                except BaseException as exc:  # noqa: BLE001 - every waiter must hear of it
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else ConnectionError(str(exc)))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, _, future), result in zip(batch, results, strict=True):
                    if future.done():  # the caller went away; its reservation still stands
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._task = None

    async def _send(self, batch: list[tuple[list[str], list[Any], asyncio.Future[Any]]]) -> list[Any]:
        results = await self._pipeline([(keys, args) for keys, args, _ in batch])
        missing = [i for i, result in enumerate(results) if is_noscript(result)]
        if missing:
            # The server lost its scripts (restart, failover, SCRIPT FLUSH); those calls did not run.
            await self._redis.script_load(self._script.source)
            retried = await self._pipeline([(batch[i][0], batch[i][1]) for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results

    async def _pipeline(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(self._script.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))
