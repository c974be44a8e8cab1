"""``linli loadtest``: start a server unless given one, run locust headless, check invariants, summarise.

Locust runs as a subprocess so gevent's monkey-patching never touches this process. The
invariants are read through the public HTTP API only, with a host token minted from the
server's secret, plus the files the locust users wrote into the report directory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import ProxyHandler, Request, build_opener

from infra.auth import issue_token
from infra.redis_server import free_port

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
ORDERS_WAIT_S = 10.0  # how long the outbox worker may take to bring SQL up to date
DRAW_WAIT_S = 10.0  # how long after draw_at a bag may take to show as drawn
# Written by the locust users (see loadtest/locustfile.py), read here after the run.
RUN_FILES = ("session.json", "acked_orders.txt", "bags.txt", "bag_entries.txt", "bag_results.txt")
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


@dataclass(frozen=True, slots=True)
class Check:
    """One invariant's outcome; ok is None when the scenario has nothing to check."""

    name: str
    ok: bool | None
    detail: str


def run_seconds(spec: str) -> int:
    """Seconds in a locust run time such as ``60``, ``45s``, ``2m`` or ``1h30m``."""
    if spec.isdigit():
        return int(spec)
    parts = re.fullmatch(r"(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?", spec.strip())
    if not parts or not any(parts.groups()):
        raise ValueError(f"run time {spec!r} is not like 60s, 2m or 1h30m")
    h, m, s = (int(g or 0) for g in parts.groups())
    return h * 3600 + m * 60 + s


class Api:
    """A JSON client of the server under test, with one token."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def get(self, path: str) -> Any:
        req = Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        with _http.open(req, timeout=30) as resp:
            return json.loads(resp.read())


@contextmanager
def serving(report_dir: Path, secret: str) -> Iterator[str]:
    """``linli serve`` on a free port with a throwaway data folder; SIGTERM on the way out."""
    data = Path(tempfile.mkdtemp(prefix="linli-loadtest-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(LINLI_DATA=str(data), LINLI_SECRET=secret, LINLI_HOST="127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    with open(report_dir / "server.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "linli", "serve", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"linli serve did not become healthy; see {report_dir / 'server.log'}")
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
            return resp.status == 200
    except (URLError, HTTPError, OSError):
        return False


def run_locust(cfg: LoadTest, url: str, secret: str) -> int:
    """Locust headless in a subprocess, its output in locust.log; its exit code."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
           "-u", str(cfg.users), "-r", str(cfg.spawn_rate), "-t", cfg.run_time, "--host", url,
           "--csv", str(cfg.report_dir / "locust"), "--html", str(cfg.report_dir / "report.html"),
           "--scenario", cfg.scenario, "--stock", str(cfg.stock), "--report-dir", str(cfg.report_dir),
           # Failed requests are measurements, summarised below; a non-zero code means locust broke.
           "--exit-code-on-error", "0"]
    if cfg.processes:
        cmd += ["--processes", str(cfg.processes)]
    with open(cfg.report_dir / "locust.log", "wb") as log:
        try:
            return subprocess.run(cmd, env={**os.environ, "LINLI_SECRET": secret}, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=run_seconds(cfg.run_time) + 180).returncode
        except subprocess.TimeoutExpired:
            return -1


def _text_lines(path: Path) -> list[str]:
    """The non-empty lines of a file the users appended to (none when it was never written)."""
    return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def check_stock(api: Api, sid: str, stock: int) -> tuple[Check, list[dict[str, Any]]]:
    """No unit oversold: per item, SQL orders' units <= stock loaded, and units left + sold == loaded."""
    deadline = time.monotonic() + ORDERS_WAIT_S
    while True:
        items = api.get(f"/api/sessions/{sid}")["items"]
        orders = api.get(f"/api/sessions/{sid}/orders")["orders"]
        sold: Counter[str] = Counter()
        for order in orders:
            if order["status"] != "cancelled":
                sold[order["item_id"]] += order["qty"]
        bad = [f"{i['id']}: loaded {stock}, sold {sold[i['id']]}, left {i['left']}"
               for i in items if sold[i["id"]] > stock or i["left"] + sold[i["id"]] != stock]
        # Until the outbox worker catches up, SQL may hold fewer orders than Redis has sold.
        if not bad or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    detail = (f"{len(items)} items: {sum(sold.values())} of {stock * len(items)} units sold "
              f"in {len(orders)} orders, left + sold == loaded")
    return Check("no unit oversold", not bad, "; ".join(bad) if bad else detail), orders


def check_acked(orders: list[dict[str, Any]], acked: list[str], grabbers: bool) -> Check:
    """Every grab answered ok has its order in SQL."""
    name = "every acknowledged grab has an order"
    if not grabbers:
        return Check(name, None, "no grabbers in this scenario")
    acked_ids, order_ids = set(acked), {o["id"] for o in orders}
    missing = sorted(acked_ids - order_ids)
    if missing:
        return Check(name, False, f"{len(missing)} of {len(acked_ids)} missing, e.g. {missing[:5]}")
    if not acked_ids:
        return Check(name, False, "no grab was acknowledged, so nothing was checked")
    return Check(name, True, f"{len(acked_ids)} acknowledged grabs, all in SQL")


def _wait_drawn(api: Api, sid: str, bid: str) -> dict[str, Any]:
    while True:
        bag = api.get(f"/api/sessions/{sid}/lucky-bags/{bid}")
        if bag["status"] == "drawn" or time.time() * 1000 > bag["draw_at"] + DRAW_WAIT_S * 1000:
            return bag
        time.sleep(0.5)


def check_bags(api: Api, sid: str, report_dir: Path, entrants_expected: bool) -> list[Check]:
    """Each bag drawn once, with min(winners, entrants) distinct winners drawn from the entrants
    by the published rule; every acknowledged entry counted."""
    names = ("lucky bags drawn once with valid winners", "every acknowledged bag entry counted")
    bag_ids = _text_lines(report_dir / "bags.txt")
    if not bag_ids:
        return [Check(n, None if not entrants_expected else False, "no lucky bag was started") for n in names]
    heard: dict[str, list[tuple[str, str]]] = defaultdict(list)
    results = report_dir / "bag_results.txt"
    for line in _text_lines(results):
        bid, user, winners = line.split(" ", 2)
        heard[bid].append((user, winners))
    acked = [tuple(line.split()) for line in _text_lines(report_dir / "bag_entries.txt")]
    problems: list[str] = []
    lost: list[str] = []
    totals: Counter[str] = Counter()
    for bid in bag_ids:
        bag = _wait_drawn(api, sid, bid)
        entrants, winners = bag["entrants"], bag["winners"]
        ranked = sorted(entrants, key=lambda u: hashlib.sha1(f"{bag['seed']}:{u}".encode()).hexdigest())
        if bag["status"] != "drawn":
            problems.append(f"{bid} is {bag['status']} after its draw time")
        elif len(set(winners)) != len(winners) or not set(winners) <= set(entrants):
            problems.append(f"{bid}: winners {winners} repeat or are not entrants")
        elif len(winners) != min(bag["winner_count"], len(entrants)) or winners != ranked[:len(winners)]:
            problems.append(f"{bid}: {len(winners)} winners of {len(entrants)} entrants, not the published rule")
        users = [u for u, _ in heard[bid]]
        if len(users) != len(set(users)) or any(w != json.dumps(winners) for _, w in heard[bid]):
            problems.append(f"{bid}: viewers heard more than one result, or other winners")
        lost += [f"{bid}/{u}" for b, u in acked if b == bid and u not in set(entrants)]
        totals.update(entrants=len(entrants), winners=len(winners), heard=len(heard[bid]))
    entries = len(acked)
    return [
        Check(names[0], not problems, "; ".join(problems) or (
            f"{len(bag_ids)} bags, {totals['entrants']} entrants, {totals['winners']} winners; "
            f"{totals['heard']} results heard, each once and the same")),
        Check(names[1], not lost and (entries > 0 or not entrants_expected),
              f"{len(lost)} of {entries} lost, e.g. {lost[:5]}" if lost
              else f"{entries} acknowledged entries, all among the entrants"),
    ]


def check_invariants(url: str, secret: str, report_dir: Path, scenario: str) -> list[Check]:
    """Every invariant, through the HTTP API and the files the users wrote."""
    room = json.loads((report_dir / "session.json").read_text())
    sid = room["session_id"]
    api = Api(url, issue_token(secret, user_id="loadtest-check", role="host",
                               community_id=room["community_id"], ttl_s=3600))
    stock, orders = check_stock(api, sid, room["stock"])
    acked = check_acked(orders, _text_lines(report_dir / "acked_orders.txt"), scenario in ("flash", "mixed"))
    return [stock, acked, *check_bags(api, sid, report_dir, scenario in ("luckybag", "mixed"))]


def read_stats(report_dir: Path) -> list[dict[str, str]]:
    path = report_dir / "locust_stats.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def read_failures(report_dir: Path) -> list[dict[str, str]]:
    path = report_dir / "locust_failures.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: -int(r["Occurrences"]))


def run(cfg: LoadTest) -> int:
    """The whole run; 0 only when locust ran and every invariant held."""
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
                  f"(log: {cfg.report_dir / 'locust.log'})", flush=True)
            code = run_locust(cfg, url, secret)
            ran = code == 0 and (cfg.report_dir / "session.json").exists()
            try:
                checks = check_invariants(url, secret, cfg.report_dir, cfg.scenario) if ran else []
            except (OSError, ValueError, KeyError) as exc:  # URLError is an OSError
                checks = [Check("invariants", False, f"could not be checked: {type(exc).__name__}: {exc}")]
    except RuntimeError as exc:  # the server did not start
        print(exc, file=sys.stderr)
        return 1
    print_summary(cfg, url, code, read_stats(cfg.report_dir), read_failures(cfg.report_dir), checks)
    return 0 if ran and all(c.ok is not False for c in checks) else 1


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url.rstrip("/")


def _ms(value: str) -> str:
    return "" if value in ("", "N/A") else f"{float(value):,.0f}"


def print_summary(cfg: LoadTest, url: str, code: int, stats: list[dict[str, str]],
                  failures: list[dict[str, str]], checks: list[Check]) -> None:
    """Latency per request type and name, failures, invariants and where the report went."""
    head = ["type", "name", "requests", "fails", "req/s", "p50 ms", "p95 ms", "p99 ms"]
    rows = [[r["Type"], r["Name"], r["Request Count"], r["Failure Count"], f"{float(r['Requests/s']):.1f}",
             _ms(r["50%"]), _ms(r["95%"]), _ms(r["99%"])] for r in stats]
    total = next((r for r in stats if r["Name"] == "Aggregated"), None)
    lines = [f"linli load test: scenario {cfg.scenario}, {cfg.users} users at {cfg.spawn_rate:g}/s for "
             f"{cfg.run_time}, stock {cfg.stock} per item, against {url}"]
    if code != 0:
        lines.append(f"locust exited with {code}: see {cfg.report_dir / 'locust.log'}")
    if total:
        lines.append(f"throughput: {float(total['Requests/s']):,.1f} requests/s "
                     f"({total['Request Count']} in all, {total['Failure Count']} failed; "
                     "WS event_delay rows count events received)")
    fails = [f"{f['Occurrences']:>6}  {f['Method']} {f['Name']}: {f['Error'][:100]}" for f in failures[:8]]
    marks = {True: "PASS", False: "FAIL", None: "n/a"}
    inv = [[marks[c.ok], c.name, c.detail] for c in checks] or [
        ["FAIL", "invariants", "not checked: locust did not run to the end"]]
    report = f"HTML report: {cfg.report_dir / 'report.html'} (CSV: {cfg.report_dir / 'locust_stats.csv'})"
    try:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
    except ImportError:
        _print_plain(lines, head, rows, fails, inv, report)
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log file has no edge: keep the names whole
    for line in lines:
        console.print(Text(line))
    table = Table(title="requests")
    for n, column in enumerate(head):
        table.add_column(column, justify="right" if n > 1 else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)
    if fails:
        console.print(Text("\n".join(["failures:", *fails])))
    checks_table = Table("", "invariant", "detail", title="invariants")
    for mark, name, detail in inv:
        checks_table.add_row(mark, name, Text(detail))
    console.print(checks_table)
    console.print(Text(report))


def _print_plain(lines: list[str], head: list[str], rows: list[list[str]], fails: list[str],
                 inv: list[list[str]], report: str) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    right = {2, 3, 4, 5, 6, 7}  # numbers line up on the right

    def fmt(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(cells))

    print("\n".join(lines))
    print(fmt(head).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row).rstrip())
    if fails:
        print("failures:\n" + "\n".join(fails))
    print("invariants:")
    width = max(len(r[1]) for r in inv)
    for mark, name, detail in inv:
        print(f"  {mark:<4}  {name:<{width}}  {detail}")
    print(report)
