"""The summary after a load test: latency per request from locust's CSV, failures, invariants, with rich."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from loadtest.invariants import Check
from loadtest.run_files import FAILURES_CSV, HTML_REPORT, LOCUST_LOG, STATS_CSV

if TYPE_CHECKING:
    from loadtest.runner import LoadTest

MARKS = {True: "PASS", False: "FAIL", None: "n/a"}
HEAD = ["type", "name", "requests", "fails", "req/s", "p50 ms", "p95 ms", "p99 ms"]


def read_stats(report_dir: Path) -> list[dict[str, str]]:
    """Locust's stats rows, one per request type and name plus "Aggregated" (none if it never wrote them)."""
    path = report_dir / STATS_CSV
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def read_failures(report_dir: Path) -> list[dict[str, str]]:
    """Locust's failure rows, the most frequent first."""
    path = report_dir / FAILURES_CSV
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: -int(r["Occurrences"]))


def _ms(value: str) -> str:
    return "" if value in ("", "N/A") else f"{float(value):,.0f}"


def print_summary(cfg: LoadTest, url: str, code: int, checks: list[Check]) -> None:
    """Latency per request type and name, failures, invariants and where the report went."""
    report_dir = cfg.report_dir
    stats, failures = read_stats(report_dir), read_failures(report_dir)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log file has no edge: keep the names whole
    console.print(Text(f"linli load test: scenario {cfg.scenario}, {cfg.users} users at {cfg.spawn_rate:g}/s for "
                       f"{cfg.run_time}, stock {cfg.stock} per item, against {url}"))
    if code != 0:
        console.print(Text(f"locust exited with {code}: see {report_dir / LOCUST_LOG}"))
    total = next((r for r in stats if r["Name"] == "Aggregated"), None)
    if total:
        console.print(Text(f"throughput: {float(total['Requests/s']):,.1f} requests/s "
                           f"({total['Request Count']} in all, {total['Failure Count']} failed; "
                           "WS event_delay rows count events received)"))
    table = Table(title="requests")
    for n, column in enumerate(HEAD):
        table.add_column(column, justify="right" if n > 1 else "left", no_wrap=True)
    for r in stats:
        table.add_row(*(Text(cell) for cell in (
            r["Type"], r["Name"], r["Request Count"], r["Failure Count"], f"{float(r['Requests/s']):.1f}",
            _ms(r["50%"]), _ms(r["95%"]), _ms(r["99%"]))))
    console.print(table)
    if failures:
        console.print(Text("\n".join(["failures:", *(f"{f['Occurrences']:>6}  {f['Method']} {f['Name']}: "
                                                     f"{f['Error'][:100]}" for f in failures[:8])])))
    invariants = Table("", "invariant", "detail", title="invariants")
    for check in checks:
        invariants.add_row(MARKS[check.ok], check.name, Text(check.detail))
    if not checks:
        invariants.add_row("FAIL", "invariants", "not checked: locust did not run to the end")
    console.print(invariants)
    console.print(Text(f"HTML report: {report_dir / HTML_REPORT} (CSV: {report_dir / STATS_CSV})"))
