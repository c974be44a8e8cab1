"""Sharded pub/sub of one web process: each session's channels subscribed on the node owning their slot.

A group is one session's shard channels (its events and its personal frames). They share the
session's hash tag, so one slot, so one node. On a single server every group sits on one
connection; on a Redis Cluster there is one connection per primary owning a slot of one of this
process's groups. Plain connections, not redis-py's pub/sub object: owning the connection lets us
decide what a moved slot or a lost connection means (what was missed comes from the history).

A group is lost from its node when the connection drops (the node died, the network broke), or
when Redis unsubscribes it unasked (a ``sunsubscribe`` push: the slot migrated, the node became a
replica). Then the slot map is read again, the group is subscribed at its owner, and as soon as
Redis confirms it, ``on_resubscribed`` runs before any later message of that connection is handed
on: the caller fills in what was published meanwhile, in order (stream.hub).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError, ResponseError

from infra import metrics
from infra.tasks import cancel_and_wait

log = logging.getLogger(__name__)

IDLE_S = 1.0  # a quiet connection is pinged after this long
DEAD_AFTER_S = 5.0  # and given up when nothing at all came back for this long
TICK_S = 0.5  # how often lost groups are placed again
RESEND_S = 2.0  # an SSUBSCRIBE not confirmed by then is sent again (e.g. after a MOVED)
CONFIRM_WAIT_S = 5.0  # how long a join waits for its session's subscription
RETRY_S = (0.2, 0.5, 1.0, 2.0)  # reconnect delays to a node that failed, then every 2 s
TOO_OLD_RETRY_S = 10.0
# Subscriber connections read pushes in their own task: redis-py's health check would read the PING's
# answer inline and steal a message from that task, and RESP2 keeps pushes plain arrays on every version.
_SUBSCRIBER: dict[str, Any] = {"health_check_interval": 0, "protocol": 2, "client_name": "linli-subscriber"}

OnMessage = Callable[[str, bytes], Awaitable[None]]
OnResubscribed = Callable[[str], Awaitable[None]]


class ShardedPubSubUnavailable(RuntimeError):
    """The Redis server has no sharded pub/sub (SSUBSCRIBE/SPUBLISH arrived in Redis 7.0)."""


def server_name(info: dict[str, str]) -> tuple[str, str, bool]:
    """The server's name and version from INFO server, and whether it has sharded pub/sub."""
    if "valkey_version" in info or info.get("server_name") == "valkey":
        return "valkey", info.get("valkey_version") or info.get("redis_version", "?"), True
    version = info.get("redis_version", "?")
    major = version.split(".", 1)[0]
    return "redis", version, major.isdigit() and int(major) >= 7


def too_old(name: str, version: str) -> str:
    """The sentence an operator reads when the server cannot do sharded pub/sub."""
    return (f"the live rooms' fan-out needs sharded pub/sub (SSUBSCRIBE/SPUBLISH), which this server "
            f"({name} {version}) lacks: use Redis >= 7.0 or any Valkey")


@dataclass(eq=False, slots=True)
class _Group:
    name: str
    channels: tuple[str, ...]
    node: str | None = None  # the node it is subscribed (or being subscribed) on
    confirmed: set[str] = field(default_factory=set)  # its channels Redis confirmed there
    asked_at: float = 0.0
    lost: bool = False  # it was subscribed and lost: messages may have been missed
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def subscribed(self) -> bool:
        return len(self.confirmed) == len(self.channels)


@dataclass(eq=False, slots=True)
class _Link:
    node: str
    groups: set[str] = field(default_factory=set)
    conn: AbstractConnection | None = None
    task: asyncio.Task[None] | None = None
    leaving: set[str] = field(default_factory=set)  # channels we unsubscribed and expect a reply for
    failures: int = 0
    retry_at: float = 0.0
    last_heard: float = 0.0


class Topology:
    """Which node owns a channel's slot, and fresh connections to it."""

    SERVER = "server"  # the one node of a standalone server

    def __init__(self, redis: Redis | RedisCluster) -> None:
        self.cluster = redis if isinstance(redis, RedisCluster) else None
        self.redis = redis

    def node_of(self, channel: str) -> str:
        if self.cluster is None:
            return self.SERVER
        node = self.cluster.get_node_from_key(channel)
        if node is None:
            raise RedisError(f"no node holds the slot of {channel}")
        return str(node.name)

    def connection(self, node: str) -> AbstractConnection:
        if self.cluster is None:
            pool = self.redis.connection_pool  # type: ignore[union-attr]
            return pool.connection_class(**{**pool.connection_kwargs, **_SUBSCRIBER})
        owner = self.cluster.get_node(node_name=node)
        if owner is None:
            raise RedisError(f"{node} is not in the cluster any more")
        return owner.connection_class(**{**owner.connection_kwargs, **_SUBSCRIBER})

    async def refresh(self) -> None:
        """Read the cluster's slot map again (a standalone server has none)."""
        if self.cluster is not None:
            await self.cluster.initialize()  # the first time; later calls return at once
            await self.cluster.nodes_manager.initialize()


class Subscriptions:
    """Keep groups of shard channels subscribed on the nodes owning their slots."""

    def __init__(self, redis: Redis | RedisCluster, on_message: OnMessage, on_resubscribed: OnResubscribed) -> None:
        self.topology = Topology(redis)
        self._on_message = on_message
        self._on_resubscribed = on_resubscribed
        self._groups: dict[str, _Group] = {}
        self._by_channel: dict[str, _Group] = {}
        self._links: dict[str, _Link] = {}
        self._wakeup = asyncio.Event()
        self._refresh = True
        self._task: asyncio.Task[None] | None = None
        self.server = ""  # what the server is, once a connection told us

    async def start(self) -> None:
        """Check the server has sharded pub/sub (when it answers) and keep the groups placed from now on."""
        with contextlib.suppress(RedisError, OSError):
            await self.topology.refresh()
            self._refresh = False
            conn = self.topology.connection(self._any_node())
            try:
                await conn.connect()  # type: ignore[no-untyped-call]  # unannotated in redis-py
                self._note_server(await _server_info(conn))
            finally:
                await conn.disconnect()
        self._task = asyncio.create_task(self._supervise(), name="hub-subscriptions")

    async def stop(self) -> None:
        """Stop every connection and the supervisor."""
        tasks = [t for t in [self._task, *(link.task for link in self._links.values())] if t is not None]
        await cancel_and_wait(*tasks)
        self._links.clear()

    async def add(self, name: str, channels: tuple[str, ...]) -> bool:
        """Subscribe a group (again, idempotently) and wait until Redis confirms it; False if it did not in time."""
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = _Group(name, channels)
            for channel in channels:
                self._by_channel[channel] = group
            try:
                await self._move(group, self.topology.node_of(channels[0]))
            except (RedisError, OSError) as exc:  # no slot map yet: the supervisor places it once there is one
                log.warning("cannot place the subscription of %s yet: %s", name, exc)
                self._wake(refresh=True)
        if group.subscribed:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(group.ready.wait(), CONFIRM_WAIT_S)
        return group.subscribed

    async def remove(self, name: str) -> None:
        """Unsubscribe a group."""
        group = self._groups.pop(name, None)
        if group is None:
            return
        for channel in group.channels:
            self._by_channel.pop(channel, None)
        group.ready.set()
        link = self._links.get(group.node) if group.node else None
        if link is not None:
            link.groups.discard(name)
            await self._send(link, "SUNSUBSCRIBE", group.channels)

    def subscribed(self, name: str) -> bool:
        """Whether Redis confirmed every channel of the group on the node owning it."""
        group = self._groups.get(name)
        return group is not None and group.subscribed

    def node_of_group(self, name: str) -> str | None:
        """The node the group is subscribed on (host:port on a cluster)."""
        group = self._groups.get(name)
        return group.node if group else None

    # -- placing groups -------------------------------------------------------------------------

    def _wake(self, *, refresh: bool = False) -> None:
        self._refresh = self._refresh or refresh
        self._wakeup.set()

    def _any_node(self) -> str:
        cluster = self.topology.cluster
        return Topology.SERVER if cluster is None else str(cluster.get_nodes()[0].name)

    async def _supervise(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), TICK_S)
            self._wakeup.clear()
            try:
                if self._refresh:
                    self._refresh = False
                    await self.topology.refresh()
                await self._place()
            except (RedisError, OSError) as exc:
                log.warning("cannot read where the subscriptions belong yet: %s", exc)
                self._refresh = True
            except Exception:  # the supervisor must outlive a bug in one pass
                log.exception("placing subscriptions failed")

    async def _place(self) -> None:
        now = asyncio.get_running_loop().time()
        for group in list(self._groups.values()):
            node = self.topology.node_of(group.channels[0])
            if group.node != node:
                log.info("subscription of %s moves from %s to %s", group.name, group.node, node)
                await self._move(group, node)
            elif not group.subscribed and now - group.asked_at > RESEND_S:
                link = self._links[node]
                if link.conn is not None:
                    await self._ask(link, group)
        for node, link in list(self._links.items()):
            running = link.task is not None and not link.task.done()
            if not running and link.groups and now >= link.retry_at:
                self._connect(link)
            elif not running and not link.groups:
                del self._links[node]

    async def _move(self, group: _Group, node: str) -> None:
        old = self._links.get(group.node) if group.node else None
        if old is not None:
            old.groups.discard(group.name)
            if group.confirmed:
                await self._send(old, "SUNSUBSCRIBE", group.channels)
        if group.confirmed:
            group.lost = True
        group.confirmed.clear()
        group.ready.clear()
        group.node = node
        link = self._links.get(node)
        if link is None:
            link = self._links[node] = _Link(node)
        link.groups.add(group.name)
        if link.conn is not None:
            await self._ask(link, group)
        elif link.task is None or link.task.done():
            self._connect(link)

    def _connect(self, link: _Link) -> None:
        link.task = asyncio.create_task(self._run(link), name=f"hub-subscriber-{link.node}")

    async def _ask(self, link: _Link, group: _Group) -> None:
        group.asked_at = asyncio.get_running_loop().time()
        await self._send(link, "SSUBSCRIBE", group.channels)

    async def _send(self, link: _Link, command: str, channels: tuple[str, ...]) -> None:
        conn = link.conn
        if conn is None or not conn.is_connected:
            return  # the link's reader reconnects and subscribes what it holds then
        if command == "SUNSUBSCRIBE":
            link.leaving.update(channels)
        try:
            await conn.send_command(command, *channels, check_health=False)
        except (RedisError, OSError) as exc:
            log.warning("%s on %s failed: %s", command, link.node, exc)  # the reader sees the break too

    # -- one node's connection ------------------------------------------------------------------

    async def _run(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        conn = None
        try:
            conn = self.topology.connection(link.node)
            await conn.connect()  # type: ignore[no-untyped-call]  # unannotated in redis-py
            self._note_server(await _server_info(conn))
            link.conn, link.last_heard, link.leaving = conn, loop.time(), set()
            for name in list(link.groups):
                await self._ask(link, self._groups[name])
            while True:
                try:
                    reply = await conn.read_response(timeout=IDLE_S)
                except ResponseError as exc:
                    self._refused(link, exc)
                    continue
                if reply is None:
                    if loop.time() - link.last_heard > DEAD_AFTER_S:
                        raise ConnectionError(f"{link.node} did not answer for {DEAD_AFTER_S:.0f} s")
                    await conn.send_command("PING", check_health=False)
                    continue
                link.last_heard, link.failures = loop.time(), 0
                await self._on_reply(link, reply)
        except ShardedPubSubUnavailable as exc:
            log.error("%s", exc)
            link.retry_at = loop.time() + TOO_OLD_RETRY_S
        except (RedisError, OSError) as exc:
            link.failures += 1
            metrics.store_error(exc, "pubsub")
            link.retry_at = loop.time() + RETRY_S[min(link.failures, len(RETRY_S)) - 1]
            if link.groups:
                log.warning("subscriber connection to %s lost (%s): resubscribing", link.node, exc)
        finally:
            link.conn = None
            for name in link.groups:
                group = self._groups[name]
                if group.confirmed:
                    group.lost = True
                group.confirmed.clear()
                group.ready.clear()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.disconnect()
            self._wake(refresh=True)

    def _refused(self, link: _Link, exc: ResponseError) -> None:
        text = str(exc)
        if "unknown command" in text.lower():
            raise ShardedPubSubUnavailable(too_old("the server", "?")) from exc
        # MOVED, CLUSTERDOWN, TRYAGAIN: the slot map we acted on is stale; what was asked is asked again.
        log.warning("%s refused a subscription: %s", link.node, text)
        self._wake(refresh=True)

    async def _on_reply(self, link: _Link, reply: Any) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return  # pong
        kind, channel = reply[0], reply[1].decode()
        group = self._by_channel.get(channel)
        here = group is not None and group.node == link.node and group.name in link.groups
        if kind == b"smessage":
            if here:
                await self._on_message(channel, reply[2])
        elif kind == b"ssubscribe":
            if group is not None and here:
                group.confirmed.add(channel)
                if group.subscribed:
                    if group.lost:
                        group.lost = False
                        try:
                            await self._on_resubscribed(group.name)
                        except Exception:  # one session's catching up must not stop the others' messages
                            log.exception("catching up %s after resubscribing failed", group.name)
                    group.ready.set()
        elif kind == b"sunsubscribe":
            if channel in link.leaving:
                link.leaving.discard(channel)
            elif group is not None and here:
                # Unasked: the slot moved away from this node (migrated, or the node was demoted).
                log.warning("%s unsubscribed %s: its slot moved", link.node, channel)
                if group.confirmed:
                    group.lost = True
                group.confirmed.discard(channel)
                group.ready.clear()
                self._wake(refresh=True)

    def _note_server(self, info: dict[str, str]) -> None:
        name, version, sharded = server_name(info)
        self.server = f"{name} {version}"
        if not sharded:
            raise ShardedPubSubUnavailable(too_old(name, version))


async def _server_info(conn: AbstractConnection) -> dict[str, str]:
    """INFO server on a fresh connection, as a dict of its lines."""
    await conn.send_command("INFO", "server", check_health=False)
    text = await conn.read_response()
    lines = (text.decode() if isinstance(text, bytes) else str(text)).splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))
