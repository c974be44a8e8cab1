"""A real Redis Cluster for tests: 3 primaries and 3 replicas from the embedded server's binary.

One cluster per test session, started on first use (about 2 s). Use it by naming the fixtures:
``redis_cluster`` (the ``infra.redis_cluster.EmbeddedCluster``, to kill a primary and wait for the
failover), ``cluster_url`` (its ``redis+cluster://`` URL, for REDIS_URL) and ``cluster_redis`` (a client
through ``infra.resources.redis_client`` over a keyspace emptied for the test). A test that kills a
primary revives it before it ends (``await redis_cluster.revive()``), or the fixture does, so the next
test again finds 3 primaries, each with a replica.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from infra.ids import session_tag
from infra.redis_cluster import SLOTS, EmbeddedCluster, key_slot
from infra.resources import redis_client


@pytest.fixture(scope="session")
async def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedCluster]:
    cluster = EmbeddedCluster(Path(tmp_path_factory.mktemp("redis-cluster")))
    await cluster.start()
    yield cluster
    await cluster.stop()


@pytest.fixture(scope="session")
def cluster_url(redis_cluster: EmbeddedCluster) -> str:
    return redis_cluster.url


@pytest.fixture
async def cluster_redis(redis_cluster: EmbeddedCluster) -> AsyncIterator[aioredis.Redis]:
    if any(not node.alive for node in redis_cluster.nodes):
        await redis_cluster.revive()  # a test before this one killed a primary and did not revive it
    client = redis_client(redis_cluster.url)
    await client.flushdb()  # on every primary
    yield client
    await client.aclose()


def sessions_on_every_primary(per_primary: int = 1, *, prefix: str = "cs") -> list[str]:
    """Session ids whose hash tags fall in each of the 3 primaries' slot ranges (0-5460, 5461-10921,
    10922-16383 as EmbeddedCluster assigns them), ``per_primary`` of each, in turn."""
    found: list[list[str]] = [[], [], []]
    for n in itertools.count():
        sid = f"{prefix}{n}"
        slot = key_slot(session_tag(sid))
        shard = max(i for i in range(3) if slot >= SLOTS * i // 3)
        if len(found[shard]) < per_primary:
            found[shard].append(sid)
        if all(len(group) == per_primary for group in found):
            return [sid for group in zip(*found, strict=True) for sid in group]
    raise AssertionError("unreachable")
