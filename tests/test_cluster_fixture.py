"""The local Redis Cluster the cluster tests run on: its shape, its URL and a failover."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from infra.ids import session_tag
from infra.redis_cluster import EmbeddedCluster, key_slot, parse_cluster_url
from tests.cluster import sessions_on_every_primary


async def test_cluster_has_three_primaries_with_a_replica_each(redis_cluster: EmbeddedCluster,
                                                               cluster_redis: aioredis.Redis) -> None:
    """Three primaries own every slot between them; six nodes; the sessions chosen for spreading land on
    three different primaries."""
    assert len(await redis_cluster.primary_ports()) == 3
    assert len(redis_cluster.nodes) == 6
    owners = {(await redis_cluster.primary_of(session_tag(sid))).port for sid in sessions_on_every_primary()}
    assert len(owners) == 3


async def test_a_killed_primary_fails_over_and_keeps_its_data(redis_cluster: EmbeddedCluster,
                                                              cluster_redis: aioredis.Redis) -> None:
    """SIGKILL the primary of a key: its replica takes over within seconds, the key written (and
    replicated) before is still there, and the old primary rejoins as a replica when revived."""
    key = session_tag("failover") + ":x"
    await cluster_redis.set(key, "kept")
    await cluster_redis.execute_command("WAIT", 1, 2000, target_nodes=await_node(cluster_redis, key))
    failover = await redis_cluster.kill_primary(key)
    await redis_cluster.wait_for_failover(failover)
    assert failover.new_primary_port != failover.killed_port
    assert failover.seconds < 15
    assert await cluster_redis.get(key) == b"kept"
    await redis_cluster.revive()
    assert len(await redis_cluster.primary_ports()) == 3
    assert (await redis_cluster.primary_of(key_slot(key))).port == failover.new_primary_port


def await_node(client: aioredis.Redis, key: str) -> object:
    return client.get_node_from_key(key)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("url", "nodes", "password"), [
    ("redis+cluster://10.0.0.5:6379,10.0.0.6:6380/", (("10.0.0.5", 6379), ("10.0.0.6", 6380)), None),
    ("redis+cluster://:s3cret@cache-1,cache-2:7000", (("cache-1", 6379), ("cache-2", 7000)), "s3cret"),
])
def test_cluster_url_names_its_seed_nodes(url: str, nodes: tuple[tuple[str, int], ...], password: str | None) -> None:
    """The documented URL form: comma-separated host[:port] seeds, credentials shared by all."""
    address = parse_cluster_url(url)
    assert address.nodes == nodes
    assert address.password == password


@pytest.mark.parametrize("url", ["redis://h:1/", "redis+cluster:///", "redis+cluster://h:1/3", "redis+cluster://h:x/"])
def test_malformed_cluster_urls_are_refused(url: str) -> None:
    """A single-server URL, no node, a database other than 0 or a bad port is a clear ValueError."""
    with pytest.raises(ValueError):
        parse_cluster_url(url)
