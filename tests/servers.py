"""Start real ``linli`` server processes for tests and wait until they answer."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from infra.db import migrate
from infra.redis_server import EmbeddedRedis, free_port
from infra.settings import normalize_database_url


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM and wait, as an operator's Ctrl-C would; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def linli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh machine: no REDIS_URL or DATABASE_URL unless given."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "LINLI_SECRET"}}
    env["LINLI_DATA"] = str(data_dir)
    env.update(extra)
    return env


def spawn_linli(args: list[str], env: dict[str, str], log: Path) -> ServerProcess:
    """Run ``linli <args>`` (a process without HTTP, such as the worker) without waiting."""
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "linli", *args], env=env, stdout=fh, stderr=subprocess.STDOUT)
    return ServerProcess(proc, "", log)


async def start_linli(args: list[str], env: dict[str, str], log: Path, *, healthy_within_s: float = 30,
                      expect_healthy: bool = True, port: int | None = None) -> ServerProcess:
    """Run ``linli <args> --port P`` (a free port unless given) and wait for /healthz to answer."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "linli", *args]
    if args[0] == "serve":
        cmd += ["--port", str(port)]
    else:
        env = {**env, "PORT": str(port)}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log)
    deadline = asyncio.get_running_loop().time() + healthy_within_s
    async with aiohttp.ClientSession() as http:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"linli exited with {proc.returncode}:\n{server.output()}")
            try:
                async with http.get(server.url + "/healthz") as resp:
                    if resp.status == 200 or not expect_healthy:
                        return server
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                server.stop()
                raise RuntimeError(f"linli did not become healthy:\n{server.output()}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def shared_stores(tmp: Path) -> AsyncIterator[tuple[str, str]]:
    """(REDIS_URL, DATABASE_URL) for several linli processes: the servers the environment names, or a
    private Redis and a SQLite file under ``tmp``; the database is migrated, the private Redis stopped after."""
    server = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        server = EmbeddedRedis(tmp / "redis")
        redis_url = await server.start()
    try:
        db_url = normalize_database_url(os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'live.db'}")
        async with own_database(db_url) as db_url:
            await migrate(db_url)
            yield redis_url, db_url
    finally:
        if server:
            await server.stop()


@asynccontextmanager
async def own_database(url: str) -> AsyncIterator[str]:
    """A SQLite URL as it is; for PostgreSQL, a fresh database beside the one named, dropped after.

    Processes started for a module live longer than one test, while every test's ``engine`` fixture
    empties the session's database: on SQLite each group of processes has a file of its own, and
    this gives them the same on PostgreSQL."""
    if not url.startswith("postgresql"):
        yield url
        return
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine

    base = make_url(url)
    own = base.set(database=f"{base.database}_{uuid.uuid4().hex[:8]}")
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")  # CREATE DATABASE takes no transaction
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{own.database}"'))
    try:
        yield own.render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:  # FORCE: a process the test could not stop still holds it
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)'))
        await admin.dispose()
