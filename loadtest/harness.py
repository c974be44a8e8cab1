"""What the benchmarks share: a server process, its API, load-generator processes, CPU and memory readings."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from infra.auth import issue_token
from infra.redis_server import EmbeddedRedis, free_port

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Server:
    """Production's shape on one machine: a private Redis server, one `linli web` process (the
    one measured) and one `linli worker` process, sharing a SQLite file in a temporary folder."""

    proc: asyncio.subprocess.Process  # the web process
    worker: asyncio.subprocess.Process
    redis: EmbeddedRedis
    url: str
    data: Path
    secret: str
    http: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)

    @property
    def ws(self) -> str:
        return self.url.replace("http", "ws")

    @property
    def redis_port(self) -> int:
        return self.redis.port

    def token(self, user: str, role: str, community: str | None = "bench") -> str:
        return issue_token(self.secret, user_id=user, role=role, community_id=community, ttl_s=7200)

    async def call(self, method: str, path: str, body: object = None, role: str = "host") -> dict[str, Any]:
        platform = role == "operator"  # an operator acts in every community and names none
        tok = self.token("bench-operator" if platform else "bench-host", role, None if platform else "bench")
        async with self.http.request(method, self.url + path, json=body,
                                     headers={"Authorization": f"Bearer {tok}"}) as resp:
            data: dict[str, Any] = await resp.json()
            if resp.status >= 400 and resp.status != 409:
                raise RuntimeError(f"{method} {path}: {resp.status} {data}")
            return data

    async def live_session(self, stock: int, limit: int = 0) -> tuple[str, str]:
        """A live session with one item; returns (session id, item id)."""
        await self.call("POST", "/api/communities", {"id": "bench", "name": "压测社区"}, role="operator")
        sid = (await self.call("POST", "/api/sessions", {"title": "bench", "community_id": "bench"}))["id"]
        iid = (await self.call("POST", f"/api/sessions/{sid}/items",
                               {"title": "红薯", "price_cents": 100, "stock": stock, "per_user_limit": limit}))["id"]
        await self.call("POST", f"/api/sessions/{sid}/live")
        return sid, iid

    async def stop(self) -> None:
        await self.http.close()
        for proc in (self.proc, self.worker):
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
        await self.redis.stop()


async def start_server() -> Server:
    data = Path(tempfile.mkdtemp(prefix="linli-bench-"))
    redis = EmbeddedRedis(data)
    redis_url = await redis.start()
    port = free_port()
    secret = secrets.token_urlsafe(48)
    # Each benchmark grabber taps as fast as it hears back, far above a resident's 5 taps a
    # second; the per-connection limit is raised so the sale core is what gets measured.
    env = {**os.environ, "LINLI_DATA": str(data), "LINLI_SECRET": secret, "LINLI_GRAB_RATE": "1000",
           "REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{data / 'linli.db'}", "PORT": str(port)}
    log = open(data / "processes.log", "wb")  # noqa: ASYNC230, SIM115 - once, before the processes it outlives
    migrate = await asyncio.create_subprocess_exec(sys.executable, "-m", "linli", "migrate", env=env,
                                                   stdout=log, stderr=log)
    await migrate.wait()
    web = await asyncio.create_subprocess_exec(sys.executable, "-m", "linli", "web", env=env, stdout=log, stderr=log)
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "linli", "worker", env=env,
                                                  stdout=log, stderr=log)
    server = Server(web, worker, redis, f"http://127.0.0.1:{port}", data, secret)
    if await answers_healthz(server.http, server.url):
        return server
    raise RuntimeError(f"server did not start; see {data / 'processes.log'}")


async def answers_healthz(http: aiohttp.ClientSession, url: str, within_s: float = 30) -> bool:
    """Whether the web process at ``url`` answers /healthz with 200 within ``within_s``."""
    for _ in range(int(within_s * 10)):
        try:
            async with http.get(url + "/healthz") as resp:
                if resp.status == 200:
                    return True
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    return False


@dataclass
class Crowd:
    """Load-generator processes holding viewer connections."""

    procs: list[asyncio.subprocess.Process]
    mode: str

    @classmethod
    async def start(cls, server: Server, sid: str, total: int, processes: int, mode: str, *,
                    item: str = "i1", seconds: float = 5, think: float = 0, first: int = 0) -> Crowd:
        """``total`` connections from ``processes`` generators, users b<first> onwards (crowds
        on several web processes of one room take apart ranges so no user is in two)."""
        return await cls.at(f"{server.ws}/ws/sessions/{sid}", server.secret, total, processes, mode, item=item,
                            seconds=seconds, think=think, first=first)

    @classmethod
    async def at(cls, url: str, secret: str, total: int, processes: int, mode: str, *,
                 item: str = "i1", seconds: float = 5, think: float = 0, first: int = 0) -> Crowd:
        """The same crowd on any websocket URL (bench.peers points it at other servers)."""
        share = -(-total // processes)
        procs = []
        for n in range(processes):
            count = min(share, total - n * share)
            if count <= 0:
                break
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loadtest.crowd", "--url", url,
                "--count", str(count), "--first", str(first + n * share), f"--secret={secret}",  # it may start with "-"
                "--community", "bench", "--mode", mode, "--item", item, "--seconds", str(seconds),
                "--think", str(think),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**28))
        crowd = cls(procs, mode)
        for p in procs:
            line = await asyncio.wait_for(p.stdout.readline(), 300)  # type: ignore[union-attr]
            if line.strip() != b"ready":
                raise RuntimeError(f"load generator failed: {line!r}")
        return crowd

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs if p.returncode is None)

    async def results(self) -> list[dict[str, Any]]:
        """Every generator's report, once all have ended (and closed their connections)."""
        out = await self.reports()
        await self.ended()
        return out

    async def ended(self) -> None:
        """Wait until every generator has closed its connections and exited."""
        for p in self.procs:
            await p.wait()

    async def reports(self) -> list[dict[str, Any]]:
        """Every generator's report as soon as it prints it, before it closes its connections
        (so a server's CPU read now leaves out ten thousand connections closing)."""
        out: list[dict[str, Any]] = []
        for p in self.procs:
            if self.mode == "idle" and p.stdin:
                p.stdin.write(b"stop\n")
                await p.stdin.drain()
            line = await asyncio.wait_for(p.stdout.readline(), 300)  # type: ignore[union-attr]
            out.append(json.loads(line))
        return out


def now() -> float:
    return time.time()
