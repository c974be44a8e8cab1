"""Every file of a load test's report directory, named once: what the users write, what locust writes.

The locust users append to the run files while the run goes on; the runner deletes them before a
run and reads them afterwards to check the invariants. The same names serve both sides.
"""

from __future__ import annotations

import os
from pathlib import Path

# Written by the locust users, read by the invariant checks.
SESSION_FILE = "session.json"  # the live session, its items and the stock loaded (written once in setup)
ORDERS_FILE = "acked_orders.txt"  # one order id per acknowledged grab
BAGS_FILE = "bags.txt"  # one id per lucky bag the host started
ENTRIES_FILE = "bag_entries.txt"  # "<bag id> <user id>" per acknowledged entry
RESULTS_FILE = "bag_results.txt"  # '<bag id> <user id> {"won": bool, "names": n}' per result a user heard
RUN_FILES = (SESSION_FILE, ORDERS_FILE, BAGS_FILE, ENTRIES_FILE, RESULTS_FILE)

# Written by locust and the server, read by the summary.
LOCUST_LOG = "locust.log"
SERVER_LOG = "server.log"
HTML_REPORT = "report.html"
CSV_PREFIX = "locust"  # locust adds _stats.csv, _failures.csv, _exceptions.csv, _stats_history.csv
STATS_CSV = f"{CSV_PREFIX}_stats.csv"
FAILURES_CSV = f"{CSV_PREFIX}_failures.csv"


def append_line(report_dir: str | Path, filename: str, line: str) -> None:
    """Append one line; a single O_APPEND write is atomic across greenlets and processes."""
    fd = os.open(Path(report_dir) / filename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_lines(report_dir: Path, filename: str) -> list[str]:
    """The non-empty lines of a run file (none when it was never written)."""
    path = report_dir / filename
    return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
