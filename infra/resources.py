"""Open every connection a linli process needs, in dependency order, and close them again."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.auth import load_secret
from infra.db import create_engine, migrate
from infra.ratelimit import LimitPolicy, RateLimits
from infra.redis_cluster import cluster_client, is_cluster_url
from infra.redis_server import EmbeddedRedis
from infra.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resources:
    """What a running process holds: settings, the signing secret, Redis, SQL and the rate limits."""

    settings: Settings
    secret: str
    redis: aioredis.Redis
    engine: AsyncEngine
    embedded_redis: EmbeddedRedis | None
    limits: RateLimits | None = None


def redis_client(url: str, *, max_connections: int = 100) -> aioredis.Redis:
    """A pooled client with timeouts, so a dead server shows as an error, never a hang.

    The pool blocks (up to 10 s) for a free connection instead of failing: a crowd of
    joins waits its turn rather than getting errors.

    A ``redis+cluster://`` URL gives a ``RedisCluster`` (infra/redis_cluster.py). The code base is
    typed against ``Redis``, whose commands the cluster client shares; the few places that behave
    differently on a cluster (the batcher, the rate-limit storage) check ``isinstance`` themselves."""
    if is_cluster_url(url):
        # Per node, and the cluster client fails rather than waits when a node's connections run out.
        return cast(aioredis.Redis, cluster_client(url, max_connections=max(max_connections, 500)))
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=10,
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool and closes it


def as_str(reply: bytes | str) -> str:
    """A Redis reply as text: our clients leave decode_responses off, so replies come as bytes."""
    return reply.decode() if isinstance(reply, bytes) else reply


@asynccontextmanager
async def open_resources(settings: Settings, *, run_migrations: bool = False) -> AsyncIterator[Resources]:
    """Redis (embedded when no REDIS_URL), then SQL (migrated when asked), then yield."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = load_secret(settings.data_dir, settings.secret)
    policy = LimitPolicy.build(dict(settings.rate_limits), settings.limit_exempt)  # a bad rule fails here, first
    embedded = None
    url = settings.redis_url
    if not url:
        # WAITAOF under everysec waits for the server's next fsync, which its cron (hz times a
        # second) starts: hz 100 turns the default ~100 ms wait into ~10 ms (bench/reserve.py).
        embedded = EmbeddedRedis(settings.data_dir, port=settings.redis_port,
                                 appendfsync=settings.redis_appendfsync, waitaof=settings.wait_aof,
                                 hz=100 if settings.wait_aof else None, avoid_ports=(settings.port,))
        url = await embedded.start()
    redis = redis_client(url)
    engine = create_engine(settings.sql_url)
    limits = RateLimits(redis, policy)
    try:
        if run_migrations:
            await migrate(settings.sql_url)
        yield Resources(settings=settings, secret=secret, redis=redis, engine=engine, embedded_redis=embedded,
                        limits=limits)
    finally:
        await engine.dispose()
        await limits.aclose()
        await redis.aclose()
        if embedded:
            await embedded.stop()
