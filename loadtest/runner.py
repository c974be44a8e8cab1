"""``linli loadtest``: start a server unless given one, run locust headless, then check and summarise.

Locust runs as a subprocess so gevent's monkey-patching never touches this process. The
invariants are in ``loadtest/invariants.py``, the summary in ``loadtest/report.py``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import ProxyHandler, build_opener

from infra.redis_server import free_port
from loadtest.invariants import Check, check_invariants
from loadtest.run_files import (
    CSV_PREFIX,
    HTML_REPORT,
    LOCUST_LOG,
    RUN_FILES,
    SERVER_LOG,
    SESSION_FILE,
)

# Found beside this module, so an installed (not editable) package runs its own copy.
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
LOAD_EXTRA = ("locust", "rich")  # what `pip install 'linli[load]'` adds and a run needs
_http = build_opener(ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class LoadTest:
    """One run's settings, as given on the command line."""

    url: str | None
    users: int
    spawn_rate: float
    run_time: str
    scenario: str
    stock: int
    report_dir: Path
    processes: int | None = None


def run_seconds(spec: str) -> int:
    """Seconds in a locust run time such as ``60``, ``45s``, ``2m`` or ``1h30m``."""
    if spec.isdigit():
        return int(spec)
    parts = re.fullmatch(r"(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?", spec.strip())
    if not parts or not any(parts.groups()):
        raise ValueError(f"run time {spec!r} is not like 60s, 2m or 1h30m")
    h, m, s = (int(g or 0) for g in parts.groups())
    return h * 3600 + m * 60 + s


@contextmanager
def serving(report_dir: Path, secret: str) -> Iterator[str]:
    """``linli serve`` on a free port with a throwaway data folder; SIGTERM on the way out."""
    data = Path(tempfile.mkdtemp(prefix="linli-loadtest-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(LINLI_DATA=str(data), LINLI_SECRET=secret, LINLI_HOST="127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    with open(report_dir / SERVER_LOG, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "linli", "serve", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"linli serve did not become healthy; see {report_dir / SERVER_LOG}")
            time.sleep(0.2)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        with _http.open(url + "/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except (URLError, HTTPError, OSError):
        return False


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url.rstrip("/")


def run_locust(cfg: LoadTest, url: str, secret: str) -> int:
    """Locust headless in a subprocess, its output in locust.log; its exit code."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
           "-u", str(cfg.users), "-r", str(cfg.spawn_rate), "-t", cfg.run_time, "--host", url,
           "--csv", str(cfg.report_dir / CSV_PREFIX), "--html", str(cfg.report_dir / HTML_REPORT),
           "--scenario", cfg.scenario, "--stock", str(cfg.stock), "--report-dir", str(cfg.report_dir),
           # Failed requests are measurements, summarised below; a non-zero code means locust broke.
           "--exit-code-on-error", "0"]
    if cfg.processes:
        cmd += ["--processes", str(cfg.processes)]
    with open(cfg.report_dir / LOCUST_LOG, "wb") as log:
        try:
            return subprocess.run(cmd, check=False, env={**os.environ, "LINLI_SECRET": secret}, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=run_seconds(cfg.run_time) + 180).returncode
        except subprocess.TimeoutExpired:
            return -1


def run(cfg: LoadTest) -> int:
    """The whole run; 0 only when locust ran and every invariant held."""
    missing = [name for name in LOAD_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        print(f"linli loadtest needs the load extra (missing {', '.join(missing)}): pip install 'linli[load]'",
              file=sys.stderr)
        return 2
    # Imported only now: the summary needs rich, and without it the message above is the answer.
    from loadtest.report import print_summary

    cfg.report_dir.mkdir(parents=True, exist_ok=True)
    # The users append to these files: a previous run's lines would be checked against this run.
    for stale in RUN_FILES:
        (cfg.report_dir / stale).unlink(missing_ok=True)
    secret = os.environ.get("LINLI_SECRET") if cfg.url else secrets.token_urlsafe(48)
    if not secret:
        print("--url needs LINLI_SECRET: the secret of that server, to mint tokens", file=sys.stderr)
        return 2
    try:
        with serving(cfg.report_dir, secret) if cfg.url is None else _given(cfg.url) as url:
            print(f"running locust against {url}: {cfg.users} users, scenario {cfg.scenario}, {cfg.run_time} "
                  f"(log: {cfg.report_dir / LOCUST_LOG})", flush=True)
            code = run_locust(cfg, url, secret)
            ran = code == 0 and (cfg.report_dir / SESSION_FILE).exists()
            try:
                checks = check_invariants(url, secret, cfg.report_dir, cfg.scenario) if ran else []
            except (OSError, ValueError, KeyError) as exc:  # URLError is an OSError
                checks = [Check("invariants", False, f"could not be checked: {type(exc).__name__}: {exc}")]
    except RuntimeError as exc:  # the server did not start
        print(exc, file=sys.stderr)
        return 1
    print_summary(cfg, url, code, checks)
    return 0 if ran and all(c.ok is not False for c in checks) else 1
