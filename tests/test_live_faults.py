"""Faults during a live sale, with real processes: two web processes, a worker, a private Redis
and the SQL database, and a crowd of residents grabbing over websockets through each fault.

Each test prints the faults it injected, the grabs acknowledged to residents, the orders in SQL
and the difference, which must be 0: every acknowledged grab is an order, and no order exists
that nobody was told of (a grab whose answer was lost is asked again with its request id).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from infra.db import create_engine, migrate
from infra.redis_server import EmbeddedRedis
from infra.resources import redis_client
from infra.settings import normalize_database_url
from infra.tables import orders
from inventory import Inventory, keys
from tests.crowd import Crowd, Grabber
from tests.live import SECRET, Api, token
from tests.servers import ServerProcess, linli_env, spawn_linli, start_linli

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)
STOCK = 10_000
GRABBERS = 30

pytestmark = pytest.mark.timeout(240)


class Cluster:
    """Processes a test may kill and start again."""

    def __init__(self, tmp: Path, redis: EmbeddedRedis, db_url: str, env: dict[str, str],
                 http: aiohttp.ClientSession) -> None:
        self.tmp, self.redis, self.db_url, self.env, self.http = tmp, redis, db_url, env, http
        self.webs: list[ServerProcess] = []
        self.worker: ServerProcess | None = None
        self.starts = 0

    def log(self, name: str) -> Path:
        self.starts += 1
        return self.tmp / f"{name}-{self.starts}.log"

    async def start_web(self) -> ServerProcess:
        web = await start_linli(["web"], self.env, self.log("web"), healthy_within_s=60)
        self.webs.append(web)
        return web

    def start_worker(self) -> None:
        self.worker = spawn_linli(["worker"], self.env, self.log("worker"))

    def api(self, n: int = 0) -> Api:
        return Api(self.http, self.live_webs()[n].url)

    def live_webs(self) -> list[ServerProcess]:
        return [w for w in self.webs if w.proc.poll() is None]

    def ws_bases(self) -> list[str]:
        return [w.url.replace("http", "ws") for w in self.live_webs()]

    async def sale(self) -> tuple[str, str]:
        api = self.api()
        s = await api.ok("POST", "/api/sessions", HOST, {"title": "故障演练", "community_id": "c1"})
        item = await api.ok("POST", f"/api/sessions/{s['id']}/items", HOST,
                            {"title": "鸡蛋", "price_cents": 100, "stock": STOCK, "unit": "盒"})
        await api.ok("POST", f"/api/sessions/{s['id']}/live", HOST)
        await api.ok("POST", f"/api/sessions/{s['id']}/items/{item['id']}/flash", HOST, {"duration_s": 3600})
        return s["id"], item["id"]

    def crowd(self, sid: str, iid: str, tag: str) -> Crowd:
        bases = self.ws_bases()
        return Crowd.start([
            Grabber(f"{tag}{n}", token(f"{tag}{n}"), sid, iid, bases[n % len(bases):] + bases[:n % len(bases)])
            for n in range(GRABBERS)])

    async def sql_orders(self, sid: str) -> set[str]:
        engine = create_engine(self.db_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(sa.select(orders.c.id).where(orders.c.session_id == sid))
                return {r[0] for r in rows}
        finally:
            await engine.dispose()

    async def settle(self, sid: str, crowd: Crowd, fault: str, within_s: float = 90) -> None:
        """Wait for the worker to write every acknowledged grab, then check and print the figures."""
        acked = set(crowd.acked().values())
        deadline = asyncio.get_running_loop().time() + within_s
        stored = await self.sql_orders(sid)
        while stored != acked and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            stored = await self.sql_orders(sid)
        client = redis_client(self.redis.url)
        try:
            snap = (await Inventory(client).snapshot(sid)).popitem()[1]
            outbox_left = await client.xlen(keys.outbox(sid))
        finally:
            await client.aclose()
        report = crowd.report()
        print(f"\n[{fault}] faults injected: {fault}; grabs acknowledged: {len(acked)}; orders in SQL: "
              f"{len(stored)}; difference: {len(stored) - len(acked)}; stock left+sold: {snap.left}+{snap.sold}"
              f"={snap.left + snap.sold}; outbox left: {outbox_left}; {report}")
        assert stored == acked, (len(stored), len(acked))
        assert snap.left + snap.sold == STOCK and snap.sold == len(stored)
        assert report["resync_misses"] == 0

    def tracebacks(self) -> list[str]:
        return [p.name for p in self.tmp.glob("*.log") if "Traceback" in p.read_text(errors="replace")]


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("faults")
    redis = EmbeddedRedis(tmp / "data", appendfsync="everysec")
    redis_url = await redis.start()
    db_url = normalize_database_url(os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'faults.db'}")
    await migrate(db_url)
    # A restarted worker (a new consumer name) claims a dead one's entries after 1 s, not 30.
    env = linli_env(tmp, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET, LINLI_GRAB_RATE="20",
                    LINLI_WORKER_CLAIM_IDLE_MS="1000")
    http = aiohttp.ClientSession()
    c = Cluster(tmp, redis, db_url, env, http)
    try:
        c.start_worker()
        await c.start_web()
        await c.start_web()
        status, _ = await c.api().call("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
        assert status in (201, 409)
        yield c
    finally:
        await http.close()
        for p in [*c.webs, *([c.worker] if c.worker else [])]:
            p.stop()
        await redis.stop()


async def test_kill_9_of_a_web_process_mid_sale(cluster: Cluster) -> None:
    """SIGKILL one of two web processes: its residents reconnect to the other, resync from the
    snapshot (their orders in it), ask again, and every acknowledged grab is one SQL order."""
    sid, iid = await cluster.sale()
    crowd = cluster.crowd(sid, iid, "k")
    await crowd.until_acked(150)
    victim = cluster.live_webs()[0]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    at_kill = len(crowd.acked())
    await crowd.until_acked(at_kill + 300, within_s=90)
    await crowd.finish()
    assert sum(g.reconnects for g in crowd.grabbers) >= GRABBERS // 2  # everyone who was on the victim
    await cluster.settle(sid, crowd, "kill -9 of web process 1 of 2")
    await cluster.start_web()  # two again for the next test


async def test_kill_9_of_the_worker_mid_sale(cluster: Cluster) -> None:
    """SIGKILL the outbox worker while grabs go on; a new worker claims what the dead one held."""
    sid, iid = await cluster.sale()
    crowd = cluster.crowd(sid, iid, "w")
    await crowd.until_acked(150)
    assert cluster.worker is not None
    cluster.worker.proc.send_signal(signal.SIGKILL)
    cluster.worker.proc.wait()
    at_kill = len(crowd.acked())
    await crowd.until_acked(at_kill + 200)
    cluster.start_worker()
    await crowd.until_acked(at_kill + 300)
    await crowd.finish()
    await cluster.settle(sid, crowd, "kill -9 of the worker")


async def test_redis_down_for_5_s_and_restarted_on_its_aof(cluster: Cluster) -> None:
    """Redis killed for 5 s: residents get error frames and HTTP 503s (no tracebacks); after it
    restarts on its AOF the sale goes on and stock and orders reconcile exactly."""
    sid, iid = await cluster.sale()
    crowd = cluster.crowd(sid, iid, "r")
    await crowd.until_acked(150)
    cluster.redis.kill()
    down_at = time.monotonic()
    api = cluster.api()
    async with cluster.http.get(api.base + "/healthz") as resp:
        health = resp.status
    status, body = await api.call("GET", f"/api/sessions/{sid}", HOST)
    await asyncio.sleep(max(0.0, 5 - (time.monotonic() - down_at)))
    await cluster.redis.start()
    at_restart = len(crowd.acked())
    await crowd.until_acked(at_restart + 300, within_s=90)
    await crowd.finish()
    assert health == 503
    assert status == 503 and body["error"]["code"] == "unavailable", (status, body)
    assert crowd.errors()["unavailable"] > 0  # the crowd heard error frames meanwhile
    await cluster.settle(sid, crowd, "Redis SIGKILLed, down 5 s, restarted on its AOF")
    assert cluster.tracebacks() == []


async def test_sql_unavailable_for_10_s(cluster: Cluster) -> None:
    """The database refuses writes for 10 s: grabs go on, the outbox grows, the worker catches up."""
    sid, iid = await cluster.sale()
    crowd = cluster.crowd(sid, iid, "q")
    await crowd.until_acked(100)
    client = redis_client(cluster.redis.url)
    try:
        async with sql_unavailable(cluster.db_url, 10):
            before = len(crowd.acked())
            outbox_before = await client.xlen(keys.outbox(sid))
            await asyncio.sleep(9)
            during = len(crowd.acked()) - before
            outbox_grew = await client.xlen(keys.outbox(sid)) - outbox_before
        await crowd.until_acked(len(crowd.acked()) + 100)
        await crowd.finish()
    finally:
        await client.aclose()
    print(f"\n[sql down] grabs acknowledged while SQL was down: {during}; outbox grew by {outbox_grew}")
    assert during > 100 and outbox_grew > 100
    await cluster.settle(sid, crowd, "SQL unavailable for 10 s")


class sql_unavailable:  # a context manager, named as one reads
    """SQLite: an exclusive lock held by another connection (writers wait it out). PostgreSQL:
    new connections refused and every connection of the database terminated, for ``seconds``."""

    def __init__(self, db_url: str, seconds: float) -> None:
        self.db_url, self.seconds = db_url, seconds
        self.until = 0.0
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        self.until = time.monotonic() + self.seconds
        if self.db_url.startswith("sqlite"):
            path = self.db_url.split("///", 1)[1]
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("BEGIN EXCLUSIVE")
            self.task = asyncio.create_task(self._release_sqlite(conn))
        else:
            self.task = asyncio.create_task(self._block_postgres())
            await asyncio.sleep(0.5)

    async def _release_sqlite(self, conn: sqlite3.Connection) -> None:
        await asyncio.sleep(max(0.0, self.until - time.monotonic()))
        conn.execute("COMMIT")
        conn.close()

    async def _block_postgres(self) -> None:
        # From the maintenance database: a database cannot refuse connections to itself.
        target = sa.engine.make_url(self.db_url)
        engine = create_engine(target.set(database="postgres").render_as_string(hide_password=False))
        name = target.database
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                try:
                    while time.monotonic() < self.until:
                        await conn.execute(sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
                        await asyncio.sleep(0.2)
                finally:
                    await conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        finally:
            await engine.dispose()

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        await self.task
