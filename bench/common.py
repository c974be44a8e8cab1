"""What every benchmark shares: a temporary folder, a private Redis server (unless REDIS_URL is
set), a SQL database (a SQLite file in the folder unless the environment names one), and the
percentiles and medians the figures are printed with."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from infra.db import create_engine, migrate
from infra.redis_server import EmbeddedRedis, free_port
from infra.settings import normalize_database_url
from loadtest.harness import Server, answers_healthz

GEN_PROCESSES = 4  # load-generator processes behind the websocket benchmarks (grab, fanout)


@contextmanager
def temp_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder, removed with everything in it on the way out."""
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)


@asynccontextmanager
async def redis_url(folder: Path) -> AsyncIterator[str]:
    """REDIS_URL when set; else a private Redis server with its data under ``folder``, stopped on the way out."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    # AOF on with appendfsync everysec, as `linli serve` runs it, so the figures include its cost.
    server = EmbeddedRedis(folder, appendfsync="everysec")
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


def sqlite_url(folder: Path, name: str) -> str:
    """The async URL of a SQLite file ``name`` in ``folder``."""
    return normalize_database_url(f"sqlite:///{folder}/{name}")


def sql_url(folder: Path, name: str, *, env: str = "DATABASE_URL") -> str:
    """The database the environment variable ``env`` names, else a SQLite file ``name`` in ``folder``."""
    named = os.environ.get(env)
    return normalize_database_url(named) if named else sqlite_url(folder, name)


@asynccontextmanager
async def sql_engine(url: str, *, migrate_first: bool = True) -> AsyncIterator[AsyncEngine]:
    """An engine on ``url`` (its schema brought to the newest revision first), disposed on the way out."""
    if migrate_first:
        await migrate(url)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


def percentile(samples: Iterable[float], p: float) -> float:
    """The sample at rank ``p`` (0 to 1) of the sorted samples; NaN when there are none."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else math.nan


def median(values: Iterable[float]) -> float:
    """The median; NaN when there are no values (a figure that was not measured)."""
    values = list(values)
    return statistics.median(values) if values else math.nan


def _env(server: Server, redis_url: str | None, port: int = 0) -> dict[str, str]:
    return {**os.environ, "LINLI_DATA": str(server.data), "LINLI_SECRET": server.secret, "LINLI_GRAB_RATE": "1000",
            "REDIS_URL": redis_url or server.redis.url, "DATABASE_URL": f"sqlite:///{server.data / 'linli.db'}",
            "PORT": str(port)}


async def _spawn(server: Server, command: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    with open(server.data / "processes.log", "ab") as log:  # noqa: ASYNC230 - once, before the process starts
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "linli", command, env=env,
                                                    stdout=log, stderr=log)


async def start_worker(server: Server, redis_url: str) -> asyncio.subprocess.Process:
    """A `linli worker` draining the outboxes of ``redis_url`` (e.g. a cluster) into ``server``'s SQL."""
    return await _spawn(server, "worker", _env(server, redis_url))


async def start_web(server: Server, redis_url: str | None = None) -> Server:
    """One more `linli web` process beside ``server``'s, on the same SQL and secret (and the same Redis
    unless ``redis_url`` names another, e.g. a cluster), on a port of its own; the Server returned
    shares the HTTP session and names the new process."""
    port = free_port()
    proc = await _spawn(server, "web", _env(server, redis_url, port))
    web = dataclasses.replace(server, proc=proc, url=f"http://127.0.0.1:{port}")
    if await answers_healthz(web.http, web.url):
        return web
    await stop_web(web)
    raise RuntimeError(f"web process did not start; see {server.data / 'processes.log'}")


async def stop_web(web: Server) -> None:
    """Stop a web process started by start_web (leaving Redis, the worker and the session alone)."""
    if web.proc.returncode is None:
        web.proc.terminate()
        await web.proc.wait()
