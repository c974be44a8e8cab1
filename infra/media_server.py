"""The RTMP ingest that linli supervises for hosts without a streaming platform.

It is nginx with its RTMP module, as Debian packages them (``nginx-core`` and
``libnginx-mod-rtmp``), never a media server of our own. A host's OBS or phone app publishes to
``rtmp://<host>:<port>/live`` with a stream key; before nginx accepts the stream it asks linli
(``on_publish``, an HTTP POST to ``callback_url``), and a key linli does not know is refused. nginx
remuxes what it accepts to HLS, one folder per stream key under ``<data_dir>/media/hls``, in short
segments (``fragment_s``) that linli serves to the live room. Nothing is played over RTMP.

nginx runs as one process (``master_process off``): linli is its master, so there is no worker that
could outlive it and hold the port, and no user switch that would leave it unable to write the
segments. Unlike Redis, nginx holds nothing worth flushing, so it dies with linli (the kernel's
parent-death signal). Like the Redis supervisor, one folder has one ingest: the supervising process
holds ``supervisor.lock``, nginx writes its pid to ``nginx.pid``, and a start finds and stops an
nginx left running on the folder (where the parent-death signal is missing). A watcher restarts
nginx if it dies.

When nginx or its RTMP module is missing, ``find_nginx`` says so in words an operator can act on,
and linli runs without the ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import pwd
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from infra.redis_server import process_running
from infra.settings import Settings

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # prctl(2)
RTMP_APP = "live"  # the application in rtmp://host:port/live; the stream key follows it
MODULE_DIRS = (Path("/usr/lib/nginx/modules"), Path("/usr/lib64/nginx/modules"), Path("/usr/local/nginx/modules"))


class IngestUnavailable(RuntimeError):
    """The ingest cannot run here (no nginx, no RTMP module, port taken); the message says what to do."""


@dataclass(frozen=True, slots=True)
class Nginx:
    binary: Path
    rtmp_module: Path | None  # None: compiled in, nothing to load


def find_nginx(path: str | None = None) -> Nginx:
    """nginx on PATH (or in /usr/sbin) with the RTMP module; IngestUnavailable saying what to install."""
    found = shutil.which("nginx", path=path)
    if not found and path is None:  # Debian puts it in sbin, which a user's PATH may leave out
        found = shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise IngestUnavailable("no nginx for the RTMP ingest: apt-get install nginx-core libnginx-mod-rtmp "
                                "(or set LINLI_INGEST=off)")
    for folder in MODULE_DIRS:
        module = folder / "ngx_rtmp_module.so"
        if module.is_file():
            return Nginx(Path(found), module)
    raise IngestUnavailable(f"{found} has no RTMP module: apt-get install libnginx-mod-rtmp (or set LINLI_INGEST=off)")


@dataclass(frozen=True, slots=True)
class IngestInfo:
    """What a web process knows of the RTMP ingest: whether it runs, why not, and its address."""

    running: bool
    reason: str | None  # why it does not run, in words an operator can act on
    hls_dir: Path  # <stream key>/index.m3u8 and its segments
    port: int = 1935
    listen_host: str = "127.0.0.1"  # where it listens, and so where its publish checks come from
    public_url: str | None = None  # rtmp://host:port/live as hosts must type it; None: from the request's host


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Run in a child between fork and exec: the kernel sends it ``sig`` when linli ends, however linli
    ends (SIGKILL included), so no ingest or encoder outlives it (Linux; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


def hls_folder(data_dir: Path) -> Path:
    """Where the ingest writes each stream's playlist and segments: ``<hls_folder>/<stream key>/index.m3u8``."""
    return Path(data_dir) / "media" / "hls"


class MediaIngest:
    """Start, watch (restarting it when it dies) and stop the nginx RTMP ingest of one data folder."""

    def __init__(self, data_dir: Path, *, callback_url: str, port: int = 1935, host: str = "127.0.0.1",
                 fragment_s: int = 1, playlist_s: int = 6, nginx: Nginx | None = None) -> None:
        self.dir = Path(data_dir) / "ingest"
        self.hls = hls_folder(data_dir)
        self.callback_url = callback_url
        self.port = port
        self.host = host
        self.fragment_s = fragment_s
        self.playlist_s = playlist_s
        self.nginx = nginx or find_nginx()
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._lock: IO[str] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def conf_file(self) -> Path:
        return self.dir / "nginx.conf"

    @property
    def pid_file(self) -> Path:
        return self.dir / "nginx.pid"

    def config(self) -> str:
        """The nginx.conf of this ingest: RTMP only, publishing checked by linli, HLS out."""
        user = ""
        if os.geteuid() == 0:
            # As root nginx would drop to "nobody" for its work and could not write our folders.
            user = f"user {pwd.getpwuid(0).pw_name};\n"
        load = f"load_module {self.nginx.rtmp_module};\n" if self.nginx.rtmp_module else ""
        listen = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return (
            f"{load}{user}daemon off;\nmaster_process off;\nworker_processes 1;\n"
            f"pid {self.pid_file.resolve()};\nerror_log {(self.dir / 'error.log').resolve()} info;\n"
            "events { worker_connections 512; }\n"
            "rtmp {\n  server {\n"
            f"    listen {listen};\n    chunk_size 4096;\n"
            f"    application {RTMP_APP} {{\n"
            "      live on;\n      record off;\n"
            "      deny play all;  # viewers watch HLS through linli, never RTMP\n"
            f"      on_publish {self.callback_url};\n      notify_method post;\n"
            f"      hls on;\n      hls_path {self.hls.resolve()};\n      hls_nested on;\n"
            f"      hls_fragment {self.fragment_s}s;\n      hls_playlist_length {self.playlist_s}s;\n"
            "      hls_cleanup on;\n"
            "    }\n  }\n}\n"
        )

    def argv(self) -> list[str]:
        return [str(self.nginx.binary), "-p", str(self.dir.resolve()), "-e", str((self.dir / "error.log").resolve()),
                "-c", str(self.conf_file.resolve())]

    def _take_lock(self) -> None:
        if self._lock is not None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.dir / "supervisor.lock", "a+")  # noqa: SIM115 - held open until stop
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise IngestUnavailable(f"another linli already runs the ingest of {self.dir}") from None
        self._lock = fh

    def _release_lock(self) -> None:
        fh, self._lock = self._lock, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def _ours(self, pid: int) -> bool:
        """Whether ``pid`` is an nginx running this folder's nginx.conf."""
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return name == "nginx" and str(self.conf_file.resolve()).encode() in cmdline

    async def _stop_orphan(self) -> None:
        """Stop an nginx that a killed linli left running on this folder (it would hold the port)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        if not (process_running(pid) and self._ours(pid)):
            return
        log.warning("stopping the RTMP ingest (nginx pid %d) left running on %s by a previous linli", pid, self.dir)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not process_running(pid):
                return
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    async def start(self, ready_within_s: float = 10.0) -> None:
        """Write the config, start nginx, wait until the RTMP port accepts, then watch it."""
        self._take_lock()
        try:
            self.hls.mkdir(parents=True, exist_ok=True)
            await self._stop_orphan()
            self._check_port()
            self.conf_file.write_text(self.config())
            await self._spawn(ready_within_s)
        except BaseException:
            self._release_lock()
            raise
        self._stopping.clear()
        self._watcher = asyncio.create_task(self._watch(), name="rtmp-ingest-watcher")

    def _check_port(self) -> None:
        """Fail at once on a taken port (nginx itself would retry for 2.5 s before giving up)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx binds
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise IngestUnavailable(f"port {self.port} on {self.host} is taken ({exc.strerror}): "
                                        "another linli or RTMP server listens there; set LINLI_RTMP_PORT") from None

    def _wrote_pid(self, pid: int) -> bool:
        # nginx writes its pid file only after it has bound its ports: a port that answers without
        # this could be someone else's.
        try:
            return int(self.pid_file.read_text().strip()) == pid
        except (OSError, ValueError):
            return False

    async def _spawn(self, ready_within_s: float) -> None:
        with contextlib.suppress(OSError):
            self.pid_file.unlink()  # a stale one would look like this nginx's
        proc = self.process = await asyncio.create_subprocess_exec(
            *self.argv(), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to linli reaches nginx only through stop()
            preexec_fn=die_with_parent)
        deadline = asyncio.get_running_loop().time() + ready_within_s
        while True:
            if proc.returncode is not None:
                raise IngestUnavailable(f"nginx exited with {proc.returncode}: {self._last_error()} "
                                        f"(port {self.port}: LINLI_RTMP_PORT; {self.dir / 'error.log'})")
            if self._wrote_pid(proc.pid):
                try:
                    _, writer = await asyncio.open_connection(
                        "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host, self.port)
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
                    break
                except OSError:
                    pass
            if asyncio.get_running_loop().time() > deadline:
                await self._terminate(proc, 2.0)
                raise IngestUnavailable(f"nginx did not listen on port {self.port} within {ready_within_s}s")
            await asyncio.sleep(0.05)
        log.info("RTMP ingest (nginx pid %d) on rtmp://%s:%d/%s, HLS in %s", proc.pid, self.host, self.port,
                 RTMP_APP, self.hls)

    def _last_error(self) -> str:
        try:
            lines = [ln for ln in (self.dir / "error.log").read_text(errors="replace").splitlines() if "[emerg]" in ln]
        except OSError:
            return "no error.log"
        # After failing to bind, nginx retries and ends with "still could not bind()": the line before says why.
        lines = [ln for ln in lines if "still could not" not in ln] or lines
        return lines[-1].split("[emerg]", 1)[1].strip()[:300] if lines else "see error.log"

    async def _watch(self) -> None:
        """Restart nginx whenever it exits without being asked, waiting longer after each quick failure."""
        backoff = 0.5
        while not self._stopping.is_set():
            proc = self.process
            if proc is None:
                return
            await proc.wait()
            if self._stopping.is_set():
                return
            log.error("the RTMP ingest (nginx pid %d) exited with %s; restarting it (see %s)", proc.pid,
                      proc.returncode, self.dir / "error.log")
            await asyncio.sleep(backoff)
            try:
                await self._spawn(10.0)
                self.restarts += 1
                backoff = 0.5
            except IngestUnavailable as exc:
                log.error("the RTMP ingest did not restart: %s", exc)
                backoff = min(backoff * 2, 30.0)

    @staticmethod
    async def _terminate(proc: asyncio.subprocess.Process, grace_s: float) -> None:
        if proc.returncode is not None:
            return
        # SIGTERM, not nginx's graceful SIGQUIT: that would wait for a host's RTMP connection to end.
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop watching, then stop nginx (SIGTERM, then SIGKILL after grace_s)."""
        self._stopping.set()
        watcher, self._watcher = self._watcher, None
        proc, self.process = self.process, None
        if proc is not None:
            await self._terminate(proc, grace_s)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
        self._release_lock()

    def kill(self) -> None:
        """Kill nginx without warning, as a crash would (tests of the watcher use this)."""
        if self.process and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def running_ingest(settings: Settings, *, run: bool) -> AsyncIterator[IngestInfo]:
    """Supervise the ingest while the context is open (when ``run`` and settings allow it); a machine
    without nginx logs why once and goes on without it."""
    def info(reason: str | None) -> IngestInfo:
        return IngestInfo(running=reason is None, reason=reason, hls_dir=hls_folder(settings.data_dir),
                          port=settings.rtmp_port, listen_host=settings.host, public_url=settings.rtmp_url)

    if not run or not settings.ingest:
        why = "LINLI_INGEST is off" if not settings.ingest else "this process runs no ingest (`linli serve` does)"
        yield info(why)
        return
    # nginx asks the web server on this machine; a wildcard listen address is reached on loopback.
    web_host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else "::1" if settings.host == "::" else settings.host
    web_host = f"[{web_host}]" if ":" in web_host else web_host
    try:
        ingest = MediaIngest(settings.data_dir, callback_url=f"http://{web_host}:{settings.port}/api/ingest/publish",
                             port=settings.rtmp_port, host=settings.host)
        await ingest.start()
    except IngestUnavailable as exc:
        log.warning("no RTMP ingest: %s; hosts can still give a platform's stream URL", exc)
        yield info(str(exc))
        return
    try:
        yield info(None)
    finally:
        await ingest.stop()
