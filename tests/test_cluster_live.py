"""Live sales on a Redis Cluster: real `linli web` processes and a worker on REDIS_URL=redis+cluster://...,
real websocket grabbers, sessions spread over all three primaries, and a primary killed mid-sale."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from infra.db import create_engine, migrate
from infra.ids import session_tag
from infra.redis_cluster import EmbeddedCluster, Failover
from infra.tables import orders
from tests.crowd import Crowd, Grabber
from tests.live import SECRET, Api, token
from tests.servers import ServerProcess, linli_env, spawn_linli, start_linli

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)


@dataclass
class Stack:
    webs: list[ServerProcess]
    worker: ServerProcess
    db: Path

    @property
    def ws_bases(self) -> list[str]:
        return [web.url.replace("http", "ws") for web in self.webs]


@asynccontextmanager
async def linli_on(cluster: EmbeddedCluster, tmp: Path, **extra: str) -> AsyncIterator[Stack]:
    """Two web processes and an outbox worker on the cluster, SQL in one SQLite file."""
    db = tmp / "live.db"
    await migrate(f"sqlite+aiosqlite:///{db}")
    env = linli_env(tmp / "var", REDIS_URL=cluster.url, DATABASE_URL=f"sqlite:///{db}", LINLI_SECRET=SECRET,
                    LINLI_GRAB_RATE="50", LINLI_WORKER_CLAIM_IDLE_MS="1000", LINLI_INGEST="off", **extra)
    webs: list[ServerProcess] = []
    worker = spawn_linli(["worker"], env, tmp / "worker.log")
    try:
        started = await asyncio.gather(*(start_linli(["web"], env, tmp / f"web{n}.log", healthy_within_s=60)
                                         for n in range(2)), return_exceptions=True)
        webs += [web for web in started if isinstance(web, ServerProcess)]
        for failed in started:
            if isinstance(failed, BaseException):
                raise failed
        yield Stack(webs, worker, db)
    finally:
        for proc in [*webs, worker]:
            proc.stop()


async def sessions_on_three_primaries(cluster: EmbeddedCluster, api: Api, stock: int) -> dict[str, str]:
    """Live sessions (session id -> item id), each on another primary, every item on flash sale."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    by_primary: dict[int, str] = {}
    while len(by_primary) < 3:
        sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "集群开抢", "community_id": "c1"}))["id"]
        by_primary.setdefault((await cluster.primary_of(session_tag(sid))).port, sid)
    sale = {}
    for sid in by_primary.values():
        item = await api.ok("POST", f"/api/sessions/{sid}/items", HOST,
                            {"title": "土鸡蛋", "price_cents": 100, "stock": stock, "unit": "盒"})
        await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
        await api.ok("POST", f"/api/sessions/{sid}/items/{item['id']}/flash", HOST, {"duration_s": 3600})
        sale[sid] = item["id"]
    return sale


def crowd_for(sale: dict[str, str], stack: Stack, per_session: int) -> Crowd:
    grabbers = []
    for s, (sid, iid) in enumerate(sale.items()):
        for n in range(per_session):
            bases = stack.ws_bases[n % 2:] + stack.ws_bases[: n % 2]  # half prefer each web process
            grabbers.append(Grabber(f"u{s}x{n}", token(f"u{s}x{n}"), sid, iid, bases, pace_s=0.05))
    return Crowd.start(grabbers)


async def sql_orders(db: Path) -> dict[str, str]:
    """Order id -> session id of every order in SQL."""
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            return {r[0]: r[1] for r in await conn.execute(sa.select(orders.c.id, orders.c.session_id))}
    finally:
        await engine.dispose()


async def drained(db: Path, acked: set[str], *, expect_all: bool, within_s: float = 30) -> dict[str, str]:
    """SQL's orders once the worker has written every acknowledged one (or, when a loss is allowed,
    once SQL stopped growing)."""
    deadline = asyncio.get_running_loop().time() + within_s
    last: dict[str, str] = {}
    steady = 0
    while True:
        stored = await sql_orders(db)
        if acked <= stored.keys():
            return stored
        steady = steady + 1 if stored == last else 0
        if (not expect_all and steady >= 6) or asyncio.get_running_loop().time() > deadline:
            return stored
        last = stored
        await asyncio.sleep(0.5)


@pytest.mark.timeout(120)
async def test_a_live_sale_over_three_primaries_sells_exactly_its_stock(redis_cluster: EmbeddedCluster,
                                                                       cluster_redis: object, tmp_path: Path) -> None:
    """Three sessions on three primaries, 2 web processes, 8 grabbers a session until sold out: every
    session sells exactly its stock, nothing more, and every acknowledged grab is an SQL order."""
    stock = 40
    async with linli_on(redis_cluster, tmp_path) as stack, aiohttp.ClientSession() as http:
        sale = await sessions_on_three_primaries(redis_cluster, Api(http, stack.webs[0].url), stock)
        crowd = crowd_for(sale, stack, per_session=8)
        await crowd.until_acked(3 * stock, within_s=60)
        await asyncio.sleep(0.5)  # a few grabs more meet an empty shelf
        await crowd.finish()
        acked = set(crowd.acked().values())
        stored = await drained(stack.db, acked, expect_all=True)
        per_session = {sid: sum(1 for s in stored.values() if s == sid) for sid in sale}
        print(f"\n[cluster sale] {crowd.report()}; SQL orders by session: {per_session}")
        assert len(acked) == 3 * stock
        assert per_session == dict.fromkeys(sale, stock)
        assert set(stored) == acked
        assert sum(crowd.report()["refused"].values()) > 0  # type: ignore[attr-defined]


async def _sale_through_a_failover(cluster: EmbeddedCluster, tmp: Path, *, wait_replicas: int,
                                   ) -> tuple[set[str], dict[str, str], Failover, int]:
    """Grab on three sessions, SIGKILL the primary of the first mid-sale, keep grabbing past the failover.
    Returns (acknowledged order ids, SQL orders, the failover, grabs acknowledged on the killed shard after it)."""
    extra = {"LINLI_WAIT_REPLICAS": str(wait_replicas)} if wait_replicas else {}
    async with linli_on(cluster, tmp, **extra) as stack, aiohttp.ClientSession() as http:
        sale = await sessions_on_three_primaries(cluster, Api(http, stack.webs[0].url), 10_000)
        victim = next(iter(sale))
        crowd = crowd_for(sale, stack, per_session=6)
        await crowd.until_acked(150, within_s=60)
        failover = await cluster.kill_primary(session_tag(victim))
        await cluster.wait_for_failover(failover)
        # The old primary comes back as a replica: the new primary needs one before WAIT confirms anything,
        # and the outbox worker, whose redis-py cluster client kept asking the dead address, needs it
        # answering again (a known gap while a failed primary stays down: reliability.md).
        await cluster.revive()
        on_victim = sum(len(g.acked) for g in crowd.grabbers if g.sid == victim)
        await crowd.until_acked(len(crowd.acked()) + 150, within_s=60)
        await asyncio.sleep(0.5)
        await crowd.finish()
        after = sum(len(g.acked) for g in crowd.grabbers if g.sid == victim) - on_victim
        acked = set(crowd.acked().values())
        stored = await drained(stack.db, acked, expect_all=bool(wait_replicas))
        print(f"\n[failover, WAIT {wait_replicas}] killed :{failover.killed_port}, :{failover.new_primary_port} "
              f"took over in {failover.seconds:.2f} s; acknowledged {len(acked)}, in SQL {len(stored)}, "
              f"acknowledged but lost {len(acked - stored.keys())}, in SQL but not acknowledged "
              f"{len(stored.keys() - acked)}; {crowd.report()}")
    return acked, stored, failover, after


@pytest.mark.timeout(150)
async def test_a_killed_primary_fails_over_mid_sale_and_the_loss_window_is_reported(
        redis_cluster: EmbeddedCluster, cluster_redis: object, tmp_path: Path) -> None:
    """Without replica acknowledgement: the replica takes over within seconds and the killed shard's sale
    goes on; what Redis's asynchronous replication may lose (acknowledged on the old primary, not yet
    on its replica) is counted and printed, and so are the orders the worker drained from the old primary
    before its replica had them, whose grabs were asked again on the promoted replica and taken again."""
    acked, stored, failover, after = await _sale_through_a_failover(redis_cluster, tmp_path, wait_replicas=0)
    assert failover.seconds < 15
    assert after > 0  # the sale went on on the promoted replica
    lost, twice = acked - stored.keys(), stored.keys() - acked
    assert len(lost) + len(twice) < 60  # a window of in-flight grabs, not a shard's worth


@pytest.mark.timeout(150)
async def test_with_wait_for_a_replica_a_killed_primary_loses_no_acknowledged_grab(
        redis_cluster: EmbeddedCluster, cluster_redis: object, tmp_path: Path) -> None:
    """LINLI_WAIT_REPLICAS=1: a grab is acknowledged only once a replica has it, so after a primary is
    killed mid-sale every acknowledged grab is an SQL order (none lost), and the sale goes on. What WAIT
    does not close: an entry the worker drained from the old primary before its replica had it belongs to a
    grab that was never acknowledged; asked again (same request id) on the promoted replica, which never
    saw it, it is taken again, so SQL may hold a few orders more than were acknowledged (reliability.md)."""
    acked, stored, failover, after = await _sale_through_a_failover(redis_cluster, tmp_path, wait_replicas=1)
    assert failover.seconds < 15
    assert after > 0
    assert acked - stored.keys() == set()
    assert len(stored.keys() - acked) < 20
