"""``linli loadtest`` end to end: its own server, locust headless, the invariants checked over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.invariants import Check
from loadtest.report import print_summary
from loadtest.run_files import FAILURES_CSV, STATS_CSV
from loadtest.runner import LOCUSTFILE, LoadTest, run_seconds
from tests.servers import linli_env


def loadtest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "linli", "loadtest", "--report-dir", str(tmp_path / "report"), *args]
    return subprocess.run(cmd, env=linli_env(tmp_path / "data"), capture_output=True, text=True, timeout=80)


def row(first: str, second: str) -> re.Pattern[str]:
    """Two neighbouring cells of the summary's rich tables."""
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


def test_run_time_is_read_as_locust_reads_it() -> None:
    """60, 45s, 2m and 1h30m are seconds as locust counts them; anything else is refused."""
    assert [run_seconds(t) for t in ("60", "45s", "2m", "1h30m")] == [60, 45, 120, 5400]
    with pytest.raises(ValueError):
        run_seconds("soon")


@pytest.mark.timeout(60)
def test_locust_finds_the_four_users_in_the_packaged_locustfile(tmp_path: Path) -> None:
    """The locustfile the runner passes to ``-f`` sits in the package and yields every user kind."""
    run = subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--list"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=50)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.split()[-4:] == ["Grabber", "Host", "LuckyBagEntrant", "Viewer"], run.stdout


def test_summary_tabulates_requests_failures_and_every_invariant(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each locust row, the failures and each invariant as PASS, FAIL or n/a reach the summary."""
    columns = "Type,Name,Request Count,Failure Count,Requests/s,50%,95%,99%"
    (tmp_path / STATS_CSV).write_text(f"{columns}\nWS,grab,710,2,50.5,2,23,51\n,Aggregated,710,2,50.5,2,23,51\n")
    (tmp_path / FAILURES_CSV).write_text("Method,Name,Error,Occurrences\nWS,grab,WsError('internal: boom'),2\n")
    cfg = LoadTest(url=None, users=10, spawn_rate=5, run_time="8s", scenario="mixed", stock=40, report_dir=tmp_path)
    print_summary(cfg, "http://127.0.0.1:1", 0, [
        Check("no unit oversold", True, "3 items"), Check("every acknowledged grab has an order", False, "1 missing"),
        Check("every acknowledged bag entry counted", None, "no lucky bag was started")])
    out = capsys.readouterr().out
    assert row("WS", "grab").search(out) and row("Aggregated", "710").search(out), out
    assert "throughput: 50.5 requests/s (710 in all, 2 failed" in out
    assert "2  WS grab: WsError('internal: boom')" in out
    for mark, name in [("PASS", "no unit oversold"), ("FAIL", "every acknowledged grab has an order"),
                       ("n/a", "every acknowledged bag entry counted")]:
        assert row(mark, name).search(out), out


def test_summary_fails_the_invariants_when_locust_did_not_finish(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No CSV and no checks: the summary names locust's exit code and one failed row, never an empty table."""
    cfg = LoadTest(url=None, users=10, spawn_rate=5, run_time="8s", scenario="flash", stock=40, report_dir=tmp_path)
    print_summary(cfg, "http://127.0.0.1:1", 1, [])
    out = capsys.readouterr().out
    assert f"locust exited with 1: see {tmp_path / 'locust.log'}" in out.replace("\n", "")
    assert row("FAIL", "invariants").search(out), out
