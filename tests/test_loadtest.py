"""``linli loadtest`` end to end: its own server, locust headless, the invariants checked over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import linli_env


def loadtest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "linli", "loadtest", "--report-dir", str(tmp_path / "report"), *args]
    return subprocess.run(cmd, env=linli_env(tmp_path / "data"), capture_output=True, text=True, timeout=80)


def row(first: str, second: str) -> re.Pattern[str]:
    """Two neighbouring cells of the summary, in the plain table or a rich one."""
    return re.compile(rf"\b{re.escape(first)}[\s│]+{re.escape(second)}(\s|│|$)", re.MULTILINE)


def assert_ran(run: subprocess.CompletedProcess[str], report: Path, passing: list[str]) -> None:
    assert run.returncode == 0, run.stdout + run.stderr + (report / "locust.log").read_text()[-3000:]
    for invariant in passing:
        assert row("PASS", invariant).search(run.stdout), run.stdout
    assert "FAIL" not in run.stdout, run.stdout
    assert (report / "report.html").stat().st_size > 0
    assert f"HTML report: {report / 'report.html'}" in run.stdout.replace("\n", "")
    # Exceptions in the users' code would be bugs of the locustfile, not load.
    assert len((report / "locust_exceptions.csv").read_text().splitlines()) == 1


@pytest.mark.timeout(100)
def test_flash_run_sells_without_overselling_and_every_acked_grab_is_an_order(tmp_path: Path) -> None:
    """30 grabbers on 40-unit items for 8 s: nothing oversold, every acknowledged grab in SQL, a report."""
    run = loadtest(tmp_path, "--scenario", "flash", "--users", "30", "--spawn-rate", "15", "--run-time", "8s",
                   "--stock", "40")
    assert_ran(run, tmp_path / "report", ["no unit oversold", "every acknowledged grab has an order"])
    assert row("WS", "grab").search(run.stdout), run.stdout
    assert row("POST", "/api/sessions/[sid]/items/[iid]/flash").search(run.stdout), run.stdout


@pytest.mark.timeout(100)
def test_luckybag_run_draws_once_from_the_acknowledged_entrants(tmp_path: Path) -> None:
    """30 entrants for 14 s: the bag is drawn once, its winners are entrants, every acknowledged entry counted."""
    run = loadtest(tmp_path, "--scenario", "luckybag", "--users", "30", "--spawn-rate", "15", "--run-time", "14s")
    assert_ran(run, tmp_path / "report", ["lucky bags drawn once with valid winners",
                                          "every acknowledged bag entry counted"])
    assert row("WS", "enter_lucky_bag").search(run.stdout), run.stdout
