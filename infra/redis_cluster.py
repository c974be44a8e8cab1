"""Redis Cluster: the ``REDIS_URL`` form that names one, and a local cluster for tests and benchmarks.

A cluster is named by ``redis+cluster://[user:password@]host:port[,host:port...][/]`` (``rediss+cluster``
for TLS). Any one reachable node is enough: the client asks it for the others and the slot map.

``EmbeddedCluster`` starts primaries and replicas from the same server binary the embedded default
uses (``infra.redis_server.find_redis_binary``), each in its own folder and port with the AOF on, and
wires them together from Python (CLUSTER MEET, ADDSLOTSRANGE, REPLICATE): no redis-cli needed. A short
``cluster-node-timeout`` makes a failover take seconds, which is what the failover tests measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.crc import key_slot as _key_slot
from redis.exceptions import RedisError

from infra.redis_server import RedisServerError, find_redis_binary, free_port

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS
SLOTS = 16384


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    """What a ``redis+cluster://`` URL says: the seed nodes and the credentials shared by all."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    ssl: bool = False


def is_cluster_url(url: str) -> bool:
    """Whether a REDIS_URL names a Redis Cluster rather than one server."""
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterAddress:
    """The seed nodes of ``redis+cluster://h1:p1,h2:p2/``; ValueError explains a malformed one."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in CLUSTER_SCHEMES:
        raise ValueError(f"a cluster URL starts with redis+cluster:// or rediss+cluster://, not {url!r}")
    userinfo, _, hostpart = rest.rpartition("@")
    hosts, _, path = hostpart.split("?", 1)[0].partition("/")
    if path not in {"", "0"}:
        raise ValueError("a Redis Cluster has only database 0: leave the path empty or /0")
    nodes: list[tuple[str, int]] = []
    for part in filter(None, (p.strip() for p in hosts.split(","))):
        parsed = urlsplit(f"//{part}")
        try:
            port = parsed.port or 6379
        except ValueError as exc:
            raise ValueError(f"bad port in cluster node {part!r}") from exc
        if not parsed.hostname:
            raise ValueError(f"no host in cluster node {part!r}")
        nodes.append((parsed.hostname, port))
    if not nodes:
        raise ValueError(f"a cluster URL names at least one node: {url!r}")
    username = password = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    return ClusterAddress(tuple(nodes), username, password, CLUSTER_SCHEMES[scheme.lower()])


def cluster_url(nodes: list[tuple[str, int]]) -> str:
    """The ``redis+cluster://`` URL naming these nodes."""
    return "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in nodes) + "/"


def key_slot(key: str | bytes) -> int:
    """The cluster slot of a key (its hash tag's, when it has one)."""
    return int(_key_slot(key.encode() if isinstance(key, str) else key))


def cluster_client(url: str, *, max_connections: int = 100) -> aioredis.RedisCluster:
    """A cluster client with the same timeouts as the single-server one; it learns the slot map from
    whichever seed node answers first and follows MOVED/ASK, failovers and added nodes itself."""
    address = parse_cluster_url(url)
    return aioredis.RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
        username=address.username, password=address.password, ssl=address.ssl,
        max_connections=max_connections,
        socket_connect_timeout=2, socket_timeout=10, health_check_interval=30,
        # A failover takes a few node timeouts; retry a command (refreshing the slot map) through it
        # rather than failing the first call that meets the dead primary.
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=8),
    )


async def _cluster(client: aioredis.Redis, *args: str | int) -> Any:
    """One CLUSTER subcommand on one node (redis-py leaves execute_command untyped)."""
    return await client.execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]


async def _until(node: ClusterNodeProcess, predicate: Callable[[aioredis.Redis], Awaitable[bool]],
                 within_s: float, what: str) -> None:
    """Ask one node, on one connection, until ``predicate`` holds; a node not answering yet (not
    listening, loading its AOF) is asked again. RedisServerError names the node and ``what`` it did not
    do within the time."""
    client = node.client()
    deadline = time.monotonic() + within_s
    try:
        while True:
            with contextlib.suppress(RedisError, OSError):
                if await predicate(client):
                    return
            if time.monotonic() > deadline:
                raise RedisServerError(f"cluster node on port {node.port} did not {what} within {within_s:.0f} s")
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports a Redis cluster node accepts (it refuses ports above 55535 even with
    its bus port set apart)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port <= 55535 and port not in ports:
            ports.append(port)
    return ports


@dataclass
class ClusterNodeProcess:
    """One server of an embedded cluster."""

    port: int
    dir: Path
    bus_port: int = 0  # the cluster bus; Redis's default (port + 10000) may be taken or above 65535
    process: asyncio.subprocess.Process | None = None
    node_id: str = ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def client(self) -> aioredis.Redis:
        return aioredis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=5)


@dataclass
class Failover:
    """What one killed primary cost: which node, and how long until its slots were served again."""

    killed_port: int
    slot: int
    new_primary_port: int = 0
    seconds: float = 0.0
    killed_at: float = field(default_factory=time.monotonic)


@dataclass
class SlotMigration:
    """What moving one slot took: from which primary to which, how many keys in how many MIGRATE batches,
    how long the source answered ASK or TRYAGAIN for it (from MIGRATING until it let go of the slot),
    and how long until every live node named the new owner."""

    slot: int
    from_port: int
    to_port: int
    keys: int = 0
    batches: int = 0
    window_s: float = 0.0
    seconds: float = 0.0


class EmbeddedCluster:
    """A local Redis Cluster: ``primaries`` primaries with ``replicas`` replicas each, one folder and
    port per server, loopback only, AOF on. ``start()`` returns a ``redis+cluster://`` URL."""

    def __init__(self, data_dir: Path, *, primaries: int = 3, replicas: int = 1, node_timeout_ms: int = 2000,
                 binary: Path | None = None, appendfsync: str = "everysec") -> None:
        self.dir = Path(data_dir)
        self.primaries = primaries
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.appendfsync = appendfsync
        self.binary = binary or find_redis_binary()
        self.nodes: list[ClusterNodeProcess] = []

    @property
    def url(self) -> str:
        return cluster_url([("127.0.0.1", node.port) for node in self.nodes])

    def argv(self, node: ClusterNodeProcess) -> list[str]:
        return [
            str(self.binary),
            "--bind", "127.0.0.1", "--port", str(node.port), "--protected-mode", "yes",
            "--dir", str(node.dir.resolve()), "--logfile", str((node.dir / "server.log").resolve()),
            "--daemonize", "no", "--save", "", "--maxclients", "10000",
            "--appendonly", "yes", "--appendfsync", self.appendfsync,
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(node.bus_port),
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A replica whose primary was just killed may always take over (the default refuses one that
            # lost touch for long, which a test machine under load can reach).
            "--cluster-replica-validity-factor", "0",
            # Sessions on the healthy primaries keep selling while one shard fails over.
            "--cluster-require-full-coverage", "no",
            # A new replica copies its primary at once, not after the default 5 s wait for more replicas.
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
        ]

    async def _spawn(self, node: ClusterNodeProcess) -> None:
        node.dir.mkdir(parents=True, exist_ok=True)
        node.process = await asyncio.create_subprocess_exec(
            *self.argv(node), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)

        async def answers(client: aioredis.Redis) -> bool:
            if node.process is not None and node.process.returncode is not None:
                raise RedisServerError(f"cluster node on port {node.port} exited with "
                                       f"{node.process.returncode}; see {node.dir / 'server.log'}")
            if not await client.ping():
                return False
            node.node_id = (await _cluster(client, "MYID")).decode()
            return True

        await _until(node, answers, 10, "answer")  # not listening yet, or loading its AOF

    async def start(self, ready_within_s: float = 20.0) -> str:
        """Start every server, join them into one cluster, and wait until every node says ok."""
        count = self.primaries * (1 + self.replicas)
        ports = _free_ports(2 * count)
        self.nodes = [ClusterNodeProcess(port, self.dir / f"node-{port}", bus_port=bus)
                      for port, bus in zip(ports[:count], ports[count:], strict=True)]
        try:
            await asyncio.gather(*(self._spawn(node) for node in self.nodes))
            await self._join(ready_within_s)
        except BaseException:
            await self.stop()
            raise
        return self.url

    async def _join(self, ready_within_s: float) -> None:
        primaries, replicas = self.nodes[: self.primaries], self.nodes[self.primaries:]
        first = self.nodes[0].client()
        try:
            for node in self.nodes[1:]:
                await _cluster(first, "MEET", "127.0.0.1", node.port, node.bus_port)
        finally:
            await first.aclose()
        bounds = [SLOTS * i // self.primaries for i in range(self.primaries + 1)]
        for i, node in enumerate(primaries):
            client = node.client()
            try:
                await _cluster(client, "ADDSLOTSRANGE", bounds[i], bounds[i + 1] - 1)
            finally:
                await client.aclose()
        deadline = time.monotonic() + ready_within_s
        # A replica can only follow a primary it has heard of through the gossip.
        for i, node in enumerate(replicas):
            primary = primaries[i % self.primaries]
            client = node.client()
            try:
                while True:
                    try:
                        await _cluster(client, "REPLICATE", primary.node_id)
                        break
                    except Exception:  # "Unknown node" until the MEET has spread; re-raised below
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.05)
            finally:
                await client.aclose()
        await self.wait_ready(deadline - time.monotonic())

    async def wait_ready(self, within_s: float = 20.0) -> None:
        """Wait until every live node says cluster_state:ok, knows every live node and every slot's
        primary, and every live replica is in sync with its primary."""
        deadline = time.monotonic() + within_s
        while True:
            if await self._ready():
                return
            if time.monotonic() > deadline:
                raise RedisServerError(f"the cluster was not ready within {within_s:.0f} s; "
                                       f"see {self.dir}/*/server.log")
            await asyncio.sleep(0.05)

    async def _ready(self) -> bool:
        live = [node for node in self.nodes if node.alive]
        for node in live:
            client = node.client()
            try:
                info = (await _cluster(client, "INFO")).decode()
                if "cluster_state:ok" not in info or f"cluster_known_nodes:{len(self.nodes)}" not in info:
                    return False
                if "cluster_slots_assigned:16384" not in info:
                    return False
                repl = await client.info("replication")
                if repl.get("role") == "slave" and repl.get("master_link_status") != "up":
                    return False
            except Exception:  # noqa: BLE001 - a node still loading or starting counts as not ready
                return False
            finally:
                await client.aclose()
        return True

    async def primary_of(self, slot_or_key: int | str) -> ClusterNodeProcess:
        """The live node serving a slot (or a key's slot) as primary, as the live nodes see it."""
        slot = slot_or_key if isinstance(slot_or_key, int) else key_slot(slot_or_key)
        for node in self.nodes:
            if not node.alive:
                continue
            client = node.client()
            try:
                for start, end, primary, *_ in await _cluster(client, "SLOTS"):
                    if int(start) <= slot <= int(end):
                        port = int(primary[1])
                        owner = next(n for n in self.nodes if n.port == port)
                        if owner.alive:
                            return owner
            except Exception:  # noqa: BLE001 - ask the next node
                continue
            finally:
                await client.aclose()
        raise RedisServerError(f"no live primary serves slot {slot}")

    async def primary_ports(self) -> list[int]:
        """The ports of the live primaries."""
        ports = []
        for node in self.nodes:
            if node.alive:
                client = node.client()
                try:
                    if (await client.info("replication")).get("role") == "master":
                        ports.append(node.port)
                finally:
                    await client.aclose()
        return ports

    async def kill_primary(self, slot_or_key: int | str) -> Failover:
        """SIGKILL the primary serving this slot (or key), as a crash would; its replica takes over."""
        slot = slot_or_key if isinstance(slot_or_key, int) else key_slot(slot_or_key)
        node = await self.primary_of(slot)
        assert node.process is not None
        os.kill(node.process.pid, signal.SIGKILL)
        await node.process.wait()
        return Failover(killed_port=node.port, slot=slot)

    async def wait_for_failover(self, failover: Failover, within_s: float = 30.0) -> Failover:
        """Wait until a live primary serves the killed one's slot and the live nodes agree the cluster is
        ok; records the new primary and the seconds since the kill."""
        deadline = time.monotonic() + within_s
        while True:
            with contextlib.suppress(RedisServerError):
                node = await self.primary_of(failover.slot)
                if node.port != failover.killed_port and await self._live_nodes_ok():
                    failover.new_primary_port = node.port
                    failover.seconds = time.monotonic() - failover.killed_at
                    return failover
            if time.monotonic() > deadline:
                raise RedisServerError(f"no replica took over slot {failover.slot} within {within_s} s")
            await asyncio.sleep(0.05)

    async def _live_nodes_ok(self) -> bool:
        for node in self.nodes:
            if node.alive:
                client = node.client()
                try:
                    if b"cluster_state:ok" not in await _cluster(client, "INFO"):
                        return False
                except Exception:  # noqa: BLE001
                    return False
                finally:
                    await client.aclose()
        return True

    async def revive(self, within_s: float = 30.0) -> None:
        """Start every killed node again on its folder and port; each rejoins (as a replica of whoever
        took over its slots) and the call returns once the cluster is whole and in sync."""
        dead = [node for node in self.nodes if not node.alive]
        await asyncio.gather(*(self._spawn(node) for node in dead))
        deadline = time.monotonic() + within_s

        async def following(client: aioredis.Redis) -> bool:
            repl = await client.info("replication")
            return bool(repl.get("role") == "slave" and repl.get("master_link_status") == "up")

        for node in dead:  # it believes it is a primary until the gossip tells it otherwise
            await _until(node, following, deadline - time.monotonic(), "rejoin as a replica")
        await self.wait_ready(deadline - time.monotonic())

    async def migrate_slot(self, slot_or_key: int | str, to_port: int, *, batch: int = 10, pause_s: float = 0.0,
                           timeout_ms: int = 5_000, within_s: float = 20.0) -> SlotMigration:
        """Move a slot (or a key's slot) to the primary on ``to_port`` while clients keep using it, the way
        ``redis-cli --cluster reshard`` does: the target is told it is IMPORTING the slot and the source
        that it is MIGRATING it, the source's keys go over in batches of ``batch`` (``MIGRATE ... KEYS``,
        ``pause_s`` between batches: meanwhile a command whose keys all remain is served by the source,
        one whose keys are all gone is sent on with ASK, one whose keys are split gets TRYAGAIN), then
        every primary is told the target owns it (``SETSLOT NODE``, the target first). Returns once every
        live node names the target as the slot's primary."""
        slot = slot_or_key if isinstance(slot_or_key, int) else key_slot(slot_or_key)
        source = await self.primary_of(slot)
        target = next((node for node in self.nodes if node.port == to_port and node.alive), None)
        if target is None or target is source:
            raise ValueError(f"slot {slot} is on :{source.port}; cannot move it to :{to_port}")
        primary_ports = await self.primary_ports()
        primaries = [node for node in self.nodes if node.port in primary_ports]
        if target not in primaries:
            raise ValueError(f"node :{to_port} is not a primary")
        moved = SlotMigration(slot, source.port, target.port)
        started = time.monotonic()
        src, dst = source.client(), target.client()
        try:
            await _cluster(dst, "SETSLOT", slot, "IMPORTING", source.node_id)
            await _cluster(src, "SETSLOT", slot, "MIGRATING", target.node_id)
            while keys := await _cluster(src, "GETKEYSINSLOT", slot, batch):
                await src.execute_command(  # type: ignore[no-untyped-call]
                    "MIGRATE", "127.0.0.1", target.port, "", 0, timeout_ms, "KEYS", *keys)
                moved.keys += len(keys)
                moved.batches += 1
                if pause_s:
                    await asyncio.sleep(pause_s)
            # The target first: once the source lets go of the slot its clients are sent there (MOVED),
            # and the target must already serve them rather than send them back.
            await _cluster(dst, "SETSLOT", slot, "NODE", target.node_id)
            await _cluster(src, "SETSLOT", slot, "NODE", target.node_id)
            moved.window_s = time.monotonic() - started
        finally:
            await src.aclose()
            await dst.aclose()
        for node in primaries:
            if node not in (source, target):
                client = node.client()
                try:
                    await _cluster(client, "SETSLOT", slot, "NODE", target.node_id)
                finally:
                    await client.aclose()

        async def names_target(client: aioredis.Redis) -> bool:
            return any(int(start) <= slot <= int(end) and int(primary[1]) == target.port
                       for start, end, primary, *_ in await _cluster(client, "SLOTS"))

        deadline = time.monotonic() + within_s
        for node in self.nodes:  # the replicas learn it from the gossip
            if node.alive:
                await _until(node, names_target, deadline - time.monotonic(), f"name :{target.port} for slot {slot}")
        moved.seconds = time.monotonic() - started
        return moved

    async def stop(self) -> None:
        """Kill every server (a test cluster's data is thrown away) and wait for them to exit."""
        for node in self.nodes:
            if node.alive:
                assert node.process is not None
                with contextlib.suppress(ProcessLookupError):
                    node.process.kill()
        for node in self.nodes:
            if node.process is not None:
                await node.process.wait()
