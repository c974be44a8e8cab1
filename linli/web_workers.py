"""``linli web --workers N``: N web processes on one port, started, restarted and stopped by a parent.

Each child is a plain ``linli web --reuse-port``: it binds the port with SO_REUSEPORT and the
kernel spreads new connections over the children. The children share nothing in memory (every
piece of state that matters is in Redis or SQL), so any child may serve any request. The parent
holds the port bound (never listening: connections only go to listening sockets) so nobody else
can take it between a child's death and its restart, and so ``PORT=0`` picks one port for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger("linli.web")

SUPERVISOR_ENV = "LINLI_WEB_SUPERVISOR"  # the parent's pid, in each child's environment
QUICK_EXIT_S = 10.0  # a child that dies sooner than this after its start counts as failing to start
MAX_QUICK_EXITS = 5  # in a row, per slot: then the parent gives up (a bad setting, not bad luck)
STOP_GRACE_S = 15.0  # a child's own shutdown takes up to 5 s (aiohttp) plus closing its stores


def usable_cores() -> int:
    """How many cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def parse_workers(value: str) -> int:
    """``auto`` is one process per usable core; otherwise a whole number of at least 1."""
    if value.strip().lower() == "auto":
        return usable_cores()
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"--workers takes a number of at least 1 or 'auto', not {value!r}") from None
    if count < 1:
        raise ValueError(f"--workers takes a number of at least 1 or 'auto', not {value!r}")
    return count


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) a SO_REUSEPORT socket on host:port; raises OSError when the port is taken."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def die_with_supervisor() -> None:
    """In a child: end (SIGTERM) when the supervising parent dies, even by SIGKILL, so no orphan keeps the port."""
    parent = os.environ.get(SUPERVISOR_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != int(parent):  # the parent died before the request above took effect
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Slot:
    """One of the N places a child runs in, and its record of quick deaths."""

    number: int
    quick_exits: int = 0
    restarts: int = 0
    pids: list[int] = field(default_factory=list)


class Supervisor:
    """Keep N children running until SIGTERM or SIGINT; then stop them all and say how it went."""

    def __init__(self, count: int, host: str, port: int, *, restart_delay_s: float = 0.5) -> None:
        self.count = count
        self.host = host
        self.port = port
        self.restart_delay_s = restart_delay_s
        self.slots = [Slot(n) for n in range(count)]
        self.failed: str | None = None  # why the parent gave up, when it did
        self._stop = asyncio.Event()

    def _child_env(self) -> dict[str, str]:
        return {**os.environ, "PORT": str(self.port), "LINLI_HOST": self.host, SUPERVISOR_ENV: str(os.getpid())}

    async def _spawn(self, slot: Slot) -> asyncio.subprocess.Process:
        # Its own process group: a terminal's Ctrl-C reaches the parent only, which stops the
        # children once each, in order (a second signal would cut a child's graceful shutdown short).
        # --workers 1: a LINLI_WEB_WORKERS in the environment must not make each child a supervisor too.
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "linli", "web", "--workers", "1",
                                                    "--reuse-port", env=self._child_env(), process_group=0)
        slot.pids.append(proc.pid)
        log.info("web process %d started (pid %d)", slot.number, proc.pid)
        return proc

    async def _keep(self, slot: Slot) -> bool:
        """Run one slot's child until the stop; True when it ended cleanly then."""
        while True:
            proc = await self._spawn(slot)
            started = time.monotonic()
            exited = asyncio.ensure_future(proc.wait())
            stopping = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not exited.done():
                return await self._terminate(slot, proc, exited)
            _forget(proc.pid)
            if self._stop.is_set():
                return proc.returncode == 0
            lived = time.monotonic() - started
            slot.quick_exits = slot.quick_exits + 1 if lived < QUICK_EXIT_S else 0
            if slot.quick_exits >= MAX_QUICK_EXITS:
                self.failed = (f"web process {slot.number} exited {slot.quick_exits} times in a row within "
                               f"{QUICK_EXIT_S:.0f} s of its start (last code {proc.returncode})")
                self._stop.set()
                return False
            # Backoff only for a child that keeps failing; one that ran a while comes back at once.
            delay = self.restart_delay_s * 2 ** max(0, slot.quick_exits - 1) if slot.quick_exits else 0
            log.warning("web process %d (pid %d) exited with %s after %.1f s; restarting in %.1f s",
                        slot.number, proc.pid, proc.returncode, lived, delay)
            slot.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._stop.is_set():
                return True

    async def _terminate(self, slot: Slot, proc: asyncio.subprocess.Process, exited: asyncio.Future[int]) -> bool:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(exited), STOP_GRACE_S)
        except TimeoutError:
            log.error("web process %d (pid %d) did not stop within %.0f s; killing it", slot.number, proc.pid,
                      STOP_GRACE_S)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await exited
            _forget(proc.pid)
            return False
        _forget(proc.pid)
        return proc.returncode == 0

    async def run(self) -> int:
        """Supervise until a signal or a give-up; 0 when every child stopped cleanly, else 1."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        keepers = [asyncio.create_task(self._keep(slot)) for slot in self.slots]
        log.info("linli web: %d processes serving on http://%s:%d", self.count, self.host, self.port)
        clean = await asyncio.gather(*keepers)
        if self.failed:
            log.error("linli web: giving up: %s", self.failed)
            return 1
        if not all(clean):
            log.error("linli web: not every web process stopped cleanly")
            return 1
        log.info("linli web: every web process stopped")
        return 0


def _forget(pid: int) -> None:
    """Tell the shared metrics folder a child is gone, so its live gauges stop counting."""
    from infra.metrics import process_exited

    process_exited(pid)


def supervise(count: int, host: str, port: int, data_dir: os.PathLike[str] | str) -> int:
    """Run ``count`` web processes on host:port (0: a free port) until SIGTERM/SIGINT; returns the exit code."""
    from pathlib import Path

    from infra.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

    try:
        holder = reserve_port(host, port)
    except OSError as exc:
        log.error("linli web: cannot bind %s:%d: %s", host, port, exc.strerror or exc)
        return 1
    with holder:
        # Every child writes its metrics to one folder and any child's /metrics answers with the sum.
        prepare_multiprocess_dir(Path(os.environ.get(MULTIPROC_ENV) or Path(data_dir) / "metrics"))
        return asyncio.run(Supervisor(count, host, holder.getsockname()[1]).run())
