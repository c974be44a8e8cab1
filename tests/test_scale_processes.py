"""Several processes of each kind: web processes sharing a port, schedulers behind one lease, workers
sharing the outboxes; each a real process on a real Redis and a real database."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from click.testing import CliRunner
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.windows import NewWindow, create_window
from crowdfund.wishes import NewWish, add_wish
from infra.auth import Principal
from infra.db import create_engine
from infra.leader import SCHEDULER_LEASE, Lease, leading, lease_key
from infra.resources import redis_client
from infra.tables import orders, wish_windows
from inventory import Inventory, outbox
from linli.cli import main as cli
from linli.web_workers import supervise
from stream.api import Live
from stream.sessions import create_session
from tests.live import SECRET, Api, Client, token
from tests.servers import ServerProcess, linli_env, shared_stores, spawn_linli, start_linli
from tests.test_cutoff_scheduler import _counts, _status, _window

HOST = token("host1", "host")
HOST_PRINCIPAL = Principal("host1", "host", "c1")
OPERATOR = token("root", "operator", None)


async def _eventually(check: Callable[[], Awaitable[bool]], within_s: float, what: str, *,
                      poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, f"not within {within_s} s: {what}"
        await asyncio.sleep(poll_s)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(REDIS_URL, DATABASE_URL) shared by the processes of one test, the database migrated and empty."""
    async with shared_stores(tmp_path) as (redis_url, db_url):
        client = redis_client(redis_url)
        await client.flushdb()  # a REDIS_URL from the environment is shared with earlier tests
        await client.aclose()
        yield redis_url, db_url


async def _both_answer(url: str) -> bool:
    return len(await _pids_answering(url, 8)) == 2


async def _pids_answering(url: str, connections: int) -> set[int]:
    """The processes that answered /healthz over that many fresh connections."""
    seen = set()
    for _ in range(connections):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http, \
                http.get(url + "/healthz") as resp:
            assert resp.status == 200
            seen.add((await resp.json())["pid"])
    return seen


async def test_web_workers_share_one_port_come_back_when_killed_and_stop_with_1001(
        tmp_path: Path, stores: tuple[str, str]) -> None:
    """`linli web` with LINLI_WEB_WORKERS=2: connections land on both processes of one port; a child killed by
    SIGKILL is replaced; SIGTERM to the parent closes every websocket with 1001 and exits 0."""
    redis_url, db_url = stores
    env = linli_env(tmp_path, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET, LINLI_WEB_WORKERS="2")
    server = await start_linli(["web"], env, tmp_path / "web.log", healthy_within_s=90)
    try:
        # Healthy means one process answers; the other may still be starting.
        await _eventually(lambda: _both_answer(server.url), 60, "both web processes answering")
        first = await _pids_answering(server.url, 24)
        assert len(first) == 2, first  # 24 connections on one process of two: a chance of 2^-23
        assert server.proc.pid not in first  # the parent serves nothing itself

        victim = min(first)
        os.kill(victim, signal.SIGKILL)

        async def replaced() -> bool:
            try:
                now = await _pids_answering(server.url, 12)
            except (aiohttp.ClientError, AssertionError):
                return False  # a connection the dead child had accepted, or one refused meanwhile
            return len(now) == 2 and victim not in now

        await _eventually(replaced, 60, "the killed web process replaced")
        children = await _pids_answering(server.url, 16)
        assert server.proc.poll() is None

        api = Api(aiohttp.ClientSession(), server.url)
        try:
            await api.call("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
            s = await api.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"})
            ws = server.url.replace("http", "ws")
            viewers = [await Client.join(ws, s["id"], token(f"v{n}")) for n in range(8)]
        finally:
            await api.http.close()

        assert server.stop(timeout=30) == 0
        for viewer in viewers:
            await asyncio.wait_for(viewer.closed.wait(), 5)
        assert {viewer.close_code for viewer in viewers} == {1001}
        assert not any(_alive(pid) for pid in children)
        assert "web process 0 started" in server.output() and "every web process stopped" in server.output()
    finally:
        server.stop()


def test_workers_takes_a_count_of_at_least_one_or_auto() -> None:
    """--workers 0, -1 or words are refused before anything starts; auto is accepted."""
    runner = CliRunner()
    for bad in ("0", "-1", "many"):
        result = runner.invoke(cli, ["web", "--workers", bad], env={"REDIS_URL": ""})
        assert result.exit_code == 2 and "--workers" in result.output, (bad, result.output)
    result = runner.invoke(cli, ["web", "--workers", "auto"], env={"REDIS_URL": ""})
    assert result.exit_code == 2 and "needs REDIS_URL" in result.output  # got past the count


def test_a_taken_port_stops_the_parent_at_once_with_a_reason(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A port another program listens on: the parent returns 1 naming it, without starting children."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert supervise(2, "127.0.0.1", port, tmp_path) == 1
    assert f"cannot bind 127.0.0.1:{port}" in caplog.text and "started" not in caplog.text


async def test_one_leader_among_contenders_and_a_stolen_lease_stops_the_duty(redis: aioredis.Redis) -> None:
    """Three contenders: exactly one runs the duty; when its lease is taken from it, its duty is cancelled."""
    running: list[int] = []
    starts: list[int] = []

    def duty(n: int) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            running.append(n)
            starts.append(n)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(n)
        return run

    key = lease_key("test-duty")
    async with leading(redis, key, 600, duty(0)) as a, leading(redis, key, 600, duty(1)) as b, \
            leading(redis, key, 600, duty(2)) as c:
        await asyncio.sleep(0.5)
        assert len(running) == 1 and [a.leading, b.leading, c.leading].count(True) == 1
        leader = [a, b, c][running[0]]
        await redis.set(key, "someone-else", px=600)  # as if its lease had lapsed and another took it
        await _eventually(lambda: _true(not leader.leading), 2, "the old leader stepped down")
        # Once the stolen lease lapses, one contender (perhaps the old leader again) leads anew.
        await _eventually(lambda: _true(len(starts) == 2 and len(running) == 1), 3, "a new leader")
        await asyncio.sleep(0.5)
        assert len(running) == 1 and [a.leading, b.leading, c.leading].count(True) == 1
    assert running == [] and await redis.get(key) is None


async def test_a_sole_leader_seizes_a_dead_predecessors_lease_at_once(redis: aioredis.Redis) -> None:
    """`linli serve` on its private Redis after a SIGKILL: the old lease is taken over at once, not after 60 s."""
    async def forever() -> None:
        await asyncio.Event().wait()

    key = lease_key("sole")
    await redis.set(key, "vm:1:dead", px=60_000)
    async with leading(redis, key, 60_000, forever, seize=True) as lead:
        await asyncio.wait_for(lead.elected.wait(), 2)
        assert _text(await redis.get(key) or b"") == lead.lease.token
    await redis.set(key, "vm:1:dead", px=60_000)
    async with leading(redis, key, 60_000, forever) as polite:  # without seize, it waits
        await asyncio.sleep(0.3)
        assert not polite.leading
    assert _text(await redis.get(key) or b"") == "vm:1:dead"


async def _true(value: bool) -> bool:
    return value


async def test_a_lease_is_extended_and_released_only_by_its_holder(redis: aioredis.Redis) -> None:
    """Compare-and-extend and compare-and-delete: another holder's token changes nothing."""
    mine, theirs = Lease(redis, lease_key("x"), 5_000), Lease(redis, lease_key("x"), 5_000)
    assert await mine.acquire() and not await theirs.acquire()
    assert not await theirs.extend() and not theirs.held
    await theirs.release()
    assert await redis.get(lease_key("x")) == mine.token.encode()
    await redis.pexpire(lease_key("x"), 100)
    assert await mine.extend() and 4_000 < await redis.pttl(lease_key("x")) <= 5_000
    await mine.release()
    assert await redis.get(lease_key("x")) is None and not mine.held


async def test_two_cutoffs_of_one_window_at_once_aggregate_it_once(redis: aioredis.Redis, engine: AsyncEngine) -> None:
    """The scheduler and a host's "close now" at the same moment: one does the work, the other nothing."""
    from crowdfund.api import run_cutoff

    live = Live.build(redis, engine)
    wid = await _window(live, cutoff_in_s=-1)
    results = await asyncio.gather(*(run_cutoff(live, wid) for _ in range(4)))
    assert sum(r is not None for r in results) == 1
    assert await _status(engine, wid) == "aggregated" and await _counts(engine, wid) == (1, 2)


def _holder_pid(value: bytes | str | None) -> int | None:
    text = value.decode() if isinstance(value, bytes) else value
    return int(text.split(":")[-2]) if text else None  # the token is host:pid:random


async def _another_window(live: Live, cutoff_in_s: float) -> str:
    """A second window like _window's (its community, product and residents exist by now)."""
    session = await create_session(live, HOST_PRINCIPAL, "直播二", "c1")
    now = int(time.time() * 1000)
    window = await create_window(live.engine, HOST_PRINCIPAL, NewWindow(
        session_id=session.id, live_at=now + 3_600_000, cutoff_at=now + 2_000))
    for user in ("a", "b"):
        await add_wish(live.engine, Principal(user, "resident", "c1"), window.id,
                       NewWish(product_id="mi", qty=3, pickup_point_id="p1"))
    async with live.engine.begin() as conn:
        await conn.execute(wish_windows.update().where(wish_windows.c.id == window.id)
                           .values(cutoff_at=datetime.now(UTC) + timedelta(seconds=cutoff_in_s)))
    return window.id


async def test_two_schedulers_one_leads_the_standby_takes_over_after_sigkill(
        tmp_path: Path, stores: tuple[str, str]) -> None:
    """Two `linli scheduler`: one holds the lease and cuts a window off, once; after it is SIGKILLed the
    other takes over within a lease and cuts off the next window."""
    redis_url, db_url = stores
    env = linli_env(tmp_path, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET,
                    LINLI_SCHEDULER_LEASE_MS="1500")
    redis = redis_client(redis_url)
    engine = create_engine(db_url)
    procs: dict[int, ServerProcess] = {}
    try:
        for n in range(2):
            proc = spawn_linli(["scheduler"], env, tmp_path / f"scheduler{n}.log")
            procs[proc.proc.pid] = proc
        await _eventually(lambda: _true_async(redis, procs), 30, "a scheduler took the lease")
        leader = _holder_pid(await redis.get(SCHEDULER_LEASE))
        assert leader in procs
        live = Live.build(redis, engine)
        first = await _window(live, cutoff_in_s=1)
        await _eventually(lambda: _is(engine, first, "aggregated"), 15, "the first window cut off")
        assert await _counts(engine, first) == (1, 2)
        assert _holder_pid(await redis.get(SCHEDULER_LEASE)) == leader
        standby = next(pid for pid in procs if pid != leader)
        await _eventually(lambda: _logged(procs[leader], f"cutoff done: CutoffSummary(window_id='{first}'"), 10,
                          "the leader's log of the first cutoff")
        assert "cutoff done" not in procs[standby].output()  # the standby ran no job

        procs[leader].proc.kill()
        procs[leader].proc.wait()
        killed_at = time.monotonic()
        await _eventually(lambda: _held_by(redis, standby), 5, "the standby took the lease")
        assert time.monotonic() - killed_at < 1.5 + 0.5 + 1.0  # the lease, a poll, and the machine's slack

        second = await _another_window(live, cutoff_in_s=0.5)
        await _eventually(lambda: _is(engine, second, "aggregated"), 15, "the second window cut off")
        assert await _counts(engine, second) == (1, 2) and await _counts(engine, first) == (1, 2)
        await _eventually(lambda: _logged(procs[standby], f"cutoff done: CutoffSummary(window_id='{second}'"), 10,
                          "the new leader's log of the second cutoff")
        assert f"window_id='{first}'" not in procs[standby].output()
        assert procs[standby].stop() == 0
        assert await redis.get(SCHEDULER_LEASE) is None  # given up on the way out, not left to expire
    finally:
        for proc in procs.values():
            proc.stop()
        await redis.aclose()
        await engine.dispose()


async def _logged(proc: ServerProcess, line: str) -> bool:
    return line in proc.output()


async def _true_async(redis: aioredis.Redis, procs: dict[int, ServerProcess]) -> bool:
    pid = _holder_pid(await redis.get(SCHEDULER_LEASE))
    return pid is not None and pid in procs


async def _held_by(redis: aioredis.Redis, pid: int) -> bool:
    return _holder_pid(await redis.get(SCHEDULER_LEASE)) == pid


async def _is(engine: AsyncEngine, wid: str, status: str) -> bool:
    return await _status(engine, wid) == status


async def _sql_orders(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(orders)) or 0)


async def _pending(redis: aioredis.Redis, streams: list[str]) -> dict[str, int]:
    """Entries pending per consumer over the streams."""
    held: dict[str, int] = {}
    for stream in streams:
        try:
            consumers = await redis.xinfo_consumers(stream, outbox.GROUP)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            continue  # a worker just started has not made the group yet: nothing is held there
        for consumer in consumers:
            name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
            held[name] = held.get(name, 0) + int(consumer["pending"])
    return held


async def _grabs(redis: aioredis.Redis, sessions: list[str], per_session: int) -> list[str]:
    """That many one-unit grabs in each session, each a new order in its outbox; returns the outboxes."""
    inventory = Inventory(redis)
    await inventory.prepare()
    for sid in sessions:
        await inventory.load_stock(sid, "i1", add=per_session, price_cents=1)
        await inventory.open_sale(sid, "i1")
        done = await asyncio.gather(*(inventory.reserve(sid, "i1", f"u{n}", 1, "r") for n in range(per_session)))
        assert all(r.ok for r in done)
    return [outbox.outbox_key(sid) for sid in sessions]


async def test_two_workers_drain_once_and_a_killed_ones_entries_are_claimed(
        tmp_path: Path, stores: tuple[str, str]) -> None:
    """Two `linli worker` on the same outboxes write every order once and leave nothing pending; a
    worker SIGKILLed mid-drain leaves entries pending that a live one claims after the idle time."""
    redis_url, db_url = stores
    env = linli_env(tmp_path, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET,
                    LINLI_WORKER_CLAIM_IDLE_MS="1000")
    redis = redis_client(redis_url)
    engine = create_engine(db_url)
    procs: list[ServerProcess] = []
    try:
        streams = await _grabs(redis, ["s0", "s1", "s2"], 400)
        procs = [spawn_linli(["worker"], env, tmp_path / f"worker{n}.log") for n in range(2)]
        await _eventually(lambda: _count_is(engine, 1200), 60, "1200 orders in SQL")
        await _eventually(lambda: _none_pending(redis, streams), 10, "nothing pending")
        assert await _sql_orders(engine) == 1200

        # Alone, a worker drains a large backlog and is killed while it holds entries (read, not yet
        # acknowledged); should the kill land between two batches, it is tried again on a new backlog.
        procs[1].stop()
        doomed, stranded, total, more = procs[0], 0, 1200, []
        for attempt in range(3):
            if attempt:
                doomed = spawn_linli(["worker"], env, tmp_path / f"doomed{attempt}.log")
                procs.append(doomed)
            batch = await _grabs(redis, [f"t{attempt}"], 3000)
            more += batch
            total += 3000
            await _eventually(functools.partial(_holding, redis, batch), 30, "the worker holding entries", poll_s=0.005)
            doomed.proc.kill()
            doomed.proc.wait()
            stranded = sum((await _pending(redis, batch)).values())
            if stranded:
                break
        assert stranded > 0
        heir = spawn_linli(["worker"], env, tmp_path / "heir.log")
        procs.append(heir)
        await _eventually(lambda: _none_pending(redis, more), 60, "the heir claimed and wrote the stranded entries")
        await _eventually(lambda: _count_is(engine, total), 30, f"{total} orders in SQL")
        await asyncio.sleep(0.5)
        assert await _sql_orders(engine) == total
        consumers = await redis.xinfo_consumers(batch[0], outbox.GROUP)
        assert any(_text(c["name"]).endswith(f"-{heir.proc.pid}") for c in consumers)  # the heir took them
    finally:
        for proc in procs:
            proc.stop()
        await redis.aclose()
        await engine.dispose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _count_is(engine: AsyncEngine, n: int) -> bool:
    return await _sql_orders(engine) >= n


async def _none_pending(redis: aioredis.Redis, streams: list[str]) -> bool:
    if any((await _pending(redis, streams)).values()):
        return False
    for stream in streams:  # and nothing left unread
        groups = await redis.xinfo_groups(stream)
        if not groups or int(groups[0]["lag"] or 0):
            return False
    return True


async def _holding(redis: aioredis.Redis, streams: list[str]) -> bool:
    return sum((await _pending(redis, streams)).values()) > 0
