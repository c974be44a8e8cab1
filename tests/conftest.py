"""Shared fixtures: a real Redis server and a real SQL database for every test.

With REDIS_URL / DATABASE_URL set the tests use those servers; otherwise they start
linli's own embedded Redis and use a SQLite file, exactly as ``linli serve`` would.
Each test starts from an empty keyspace and empty tables.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.db import create_engine, migrate
from infra.redis_server import EmbeddedRedis
from infra.resources import redis_client
from infra.settings import normalize_database_url
from infra.tables import metadata
from inventory import Inventory

# The Redis Cluster fixtures (redis_cluster, cluster_url, cluster_redis) and the page tests' browser fixtures
# (browser, new_page, screenshot, server): started only by tests that use them. The browser's only where
# Playwright is installed: the core tests run without it (CI's lowest-versions stage leaves the page tests out).
pytest_plugins = ["tests.cluster"] + (["tests.browser"] if importlib.util.find_spec("playwright") else [])


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("linli")


@pytest.fixture(scope="session")
async def redis_url(work_dir: Path) -> AsyncIterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(work_dir / "shared-redis", appendfsync="everysec")
    yield await server.start()
    await server.stop()


@pytest.fixture(scope="session")
async def database_url(work_dir: Path) -> str:
    url = normalize_database_url(os.environ.get("DATABASE_URL") or f"sqlite:///{work_dir / 'test.db'}")
    if url.startswith("postgresql"):
        # Start from a schema this run creates, so a stale one from elsewhere cannot hide a migration bug.
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
        await engine.dispose()
    await migrate(url)
    return url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())
    yield engine
    await engine.dispose()


@pytest.fixture
async def inventory(redis: aioredis.Redis) -> Inventory:
    inv = Inventory(redis)
    await inv.prepare()
    return inv


@pytest.fixture
def no_redis_on_path(tmp_path: Path) -> Iterator[str]:
    """A PATH holding this venv's scripts and the basics, but no redis-server."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    venv_bin = Path(shutil.which("linli") or "").parent
    yield os.pathsep.join([str(venv_bin), str(bin_dir)])
