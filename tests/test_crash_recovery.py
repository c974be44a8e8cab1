"""Crash recovery: one Redis server per data folder after a kill -9 of `linli serve`, and presence
that forgets the viewers of a dead web process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from redis.exceptions import ConnectionError as RedisConnectionError

from infra.db import create_engine
from infra.redis_server import EmbeddedRedis, RedisServerError, process_running, serves_folder
from infra.resources import redis_client
from infra.tables import orders
from stream import keys
from stream.presence import Presence
from stream.scripts import Scripts
from tests.crowd import Crowd, Grabber
from tests.live import SECRET, Api, Client, token
from tests.servers import linli_env, start_linli

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)


def redis_servers_of(folder: Path) -> list[int]:
    """Pids of every redis-server or valkey-server working in ``folder``."""
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and serves_folder(int(e.name), folder) and process_running(int(e.name))]


async def _sql_orders(db: Path, sid: str) -> set[str]:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            return {r[0] for r in await conn.execute(sa.select(orders.c.id).where(orders.c.session_id == sid))}
    finally:
        await engine.dispose()


@pytest.mark.timeout(180)
async def test_kill_9_of_serve_restarts_on_one_redis_with_every_grab_and_true_presence(tmp_path: Path) -> None:
    """SIGKILL `linli serve` mid-sale: its Redis is left running; the restart shuts that orphan down
    (AOF flushed) and runs exactly one server on the folder, no acknowledged grab is lost, and
    the pre-crash viewers who did not come back are no longer present."""
    data = tmp_path / "var"
    env = linli_env(data, LINLI_SECRET=SECRET, LINLI_GRAB_RATE="20", LINLI_WORKER_CLAIM_IDLE_MS="1000")
    serve = await start_linli(["serve"], env, tmp_path / "serve1.log", healthy_within_s=60)
    port = int(serve.url.rsplit(":", 1)[1])
    ws_base = serve.url.replace("http", "ws")
    orphan = 0
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(http, serve.url)
            await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
            s = await api.ok("POST", "/api/sessions", HOST, {"title": "崩溃演练", "community_id": "c1"})
            sid = s["id"]
            item = await api.ok("POST", f"/api/sessions/{sid}/items", HOST,
                                {"title": "鸡蛋", "price_cents": 100, "stock": 10_000, "unit": "盒"})
            await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
            await api.ok("POST", f"/api/sessions/{sid}/items/{item['id']}/flash", HOST, {"duration_s": 3600})
        viewers = [await Client.join(ws_base, sid, token(f"v{n}")) for n in range(3)]
        crowd = Crowd.start([Grabber(f"g{n}", token(f"g{n}"), sid, item["id"], [ws_base]) for n in range(20)])
        await crowd.until_acked(200)

        serve.proc.send_signal(signal.SIGKILL)
        serve.proc.wait()
        orphan = int((data / "redis" / "server.pid").read_text())
        assert process_running(orphan), "the embedded Redis should outlive a SIGKILL of its supervisor"
        for v in viewers:
            await v.close()

        serve = await start_linli(["serve"], env, tmp_path / "serve2.log", healthy_within_s=60, port=port)
        assert not process_running(orphan)
        servers = redis_servers_of(data / "redis")
        assert len(servers) == 1 and servers[0] != orphan
        assert "left running" in serve.output()

        back = await Client.join(ws_base, sid, token("v0"))
        await crowd.until_acked(len(crowd.acked()) + 100, within_s=90)
        await crowd.finish()
        acked = set(crowd.acked().values())
        deadline = asyncio.get_running_loop().time() + 60
        while (stored := await _sql_orders(data / "linli.db", sid)) != acked:
            assert asyncio.get_running_loop().time() < deadline, (len(stored), len(acked))
            await asyncio.sleep(0.5)
        print(f"\n[kill -9 of linli serve] grabs acknowledged: {len(acked)}; orders in SQL: {len(stored)}; "
              f"difference: {len(stored) - len(acked)}; redis servers on the folder: {len(servers)}; {crowd.report()}")

        client = aioredis.Redis(port=int((data / "redis" / "port").read_text()))
        try:
            deadline = asyncio.get_running_loop().time() + 20
            while (conns := await client.hgetall(keys.conns(sid))) != {b"v0": b"1"}:
                assert asyncio.get_running_loop().time() < deadline, conns
                await asyncio.sleep(0.2)
            present = {k.decode(): v.decode() for k, v in (await client.hgetall(keys.present(sid))).items()}
            assert present["v0"].endswith(":0")  # watching
            assert all(not present[f"v{n}"].endswith(":0") for n in (1, 2))  # left when their process died
        finally:
            await client.aclose()
        await back.close()
    finally:
        assert serve.stop() == 0
        if orphan and process_running(orphan):
            os.kill(orphan, signal.SIGKILL)
    assert redis_servers_of(data / "redis") == []


async def test_a_second_supervisor_of_one_data_folder_is_refused(tmp_path: Path) -> None:
    """While one process supervises a folder's Redis, another start on that folder fails clearly."""
    first = EmbeddedRedis(tmp_path)
    await first.start()
    try:
        with pytest.raises(RedisServerError, match="already runs the Redis server"):
            await EmbeddedRedis(tmp_path).start()
        assert len(redis_servers_of(tmp_path / "redis")) == 1
    finally:
        await first.stop()
    second = EmbeddedRedis(tmp_path)  # the lock went with the first
    await second.start()
    await second.stop()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


async def test_connections_per_user_are_capped_exactly_across_processes(redis: aioredis.Redis) -> None:
    """40 concurrent joins of one user through two processes: exactly the cap (5) get in."""
    scripts = Scripts()
    procs = [Presence(redis, scripts, f"{socket.gethostname()}-{os.getpid()}-p{n}", max_per_user=5) for n in range(2)]
    joined = await asyncio.gather(*(procs[n % 2].join("s1", "u1") for n in range(40)))
    assert sum(joined) == 5
    assert await redis.hget(keys.conns("s1"), "u1") == b"5"
    await asyncio.gather(*(p.leave("s1", "u1") for p in procs for _ in range(5)))
    assert await redis.hgetall(keys.conns("s1")) == {}


async def test_a_dead_process_viewers_expire_and_a_live_one_taken_for_dead_restores(redis: aioredis.Redis) -> None:
    """Viewers of a process that died stop counting at the next join; a live process whose share was
    reaped puts its viewers back at its next heartbeat."""
    scripts = Scripts()
    host = socket.gethostname()
    dead = Presence(redis, scripts, f"{host}-{_dead_pid()}-aaaaaa")
    live = Presence(redis, scripts, f"{host}-{os.getpid()}-bbbbbb")
    for user in ("u2", "u3"):
        assert await live.join("s2", user)
    for user in ("u1", "u2"):
        assert await dead.join("s2", user)  # joined, then its process died (its pid runs no more)
    assert await redis.hgetall(keys.conns("s2")) == {b"u1": b"1", b"u2": b"2", b"u3": b"1"}
    newcomer = Presence(redis, scripts, f"{host}-{os.getpid()}-cccccc")
    assert await newcomer.join("s2", "u4")  # registering reaps the dead process
    assert await redis.hgetall(keys.conns("s2")) == {b"u2": b"1", b"u3": b"1", b"u4": b"1"}
    assert not (await redis.hget(keys.present("s2"), "u1") or b"").endswith(b":0")

    # The live process is taken for dead (say it could not reach Redis for a while) ...
    await newcomer._reap("s2", [live.process_id], -1)
    assert await redis.hgetall(keys.conns("s2")) == {b"u4": b"1"}
    await live.leave("s2", "u3")  # ... a viewer leaves meanwhile ...
    await live.beat()  # ... and its next heartbeat puts back what it holds.
    assert await redis.hgetall(keys.conns("s2")) == {b"u2": b"1", b"u4": b"1"}

    # A leave that could not reach Redis: the next heartbeat writes the process's share again.
    assert await live.join("s2", "u5")
    live.redis = redis_client("redis://127.0.0.1:1/0", max_connections=1)  # nobody listens there
    with pytest.raises(RedisConnectionError):
        await live.leave("s2", "u5")
    await live.redis.aclose()
    live.redis = redis
    assert await redis.hget(keys.conns("s2"), "u5") == b"1"  # still counted ...
    await live.beat()
    assert await redis.hgetall(keys.conns("s2")) == {b"u2": b"1", b"u4": b"1"}  # ... until the beat
    assert not (await redis.hget(keys.present("s2"), "u5") or b"").endswith(b":0")
    await live.forget()
    await newcomer.forget()
    assert await redis.hgetall(keys.conns("s2")) == {}
    with contextlib.suppress(Exception):
        await dead.forget()
