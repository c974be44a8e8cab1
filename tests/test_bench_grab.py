"""``linli bench grab`` end to end, tiny: its own Redis, web processes, worker and load generators."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import linli_env


@pytest.mark.timeout(90)
def test_bench_grab_reports_rate_and_cpu_per_grab_for_each_number_of_web_processes(tmp_path: Path) -> None:
    """One short closed-loop run with 1 and 2 web processes: a row for each with grabs/s, the first grabs'
    p99 and the CPU per grab beside the plain loop's client CPU per call, and the plain loop's own line;
    no grab fails.
    (40 grabbers in a closed loop tap faster than a user may, so the per-user limit is off here.)"""
    cmd = [sys.executable, "-m", "linli", "bench", "grab", "--runs", "1", "--seconds", "1", "--grabbers", "40",
           "--web", "1,2", "--think", "0"]
    env = linli_env(tmp_path, LINLI_LIMIT_GRAB_USER="off")
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=80)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {int(m[1]): m for m in re.finditer(
        r"^\s+([12])\s+([\d,]+)\s+\S+\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)x\s+[\d.]+\s+0$",
        run.stdout, re.MULTILINE)}
    assert set(rows) == {1, 2}, run.stdout
    for row in rows.values():
        # grabs/s, the first grabs' p99 (the rush as the flash starts), CPU per grab and its ratio
        assert int(row[2].replace(",", "")) > 0 and float(row[3]) > 0 and float(row[4]) > 0 and float(row[5]) > 0
    plain = re.search(r"plain redis-py EVALSHA loop.*client CPU ([\d.]+) µs per call", run.stdout)
    assert plain and float(plain[1]) > 0, run.stdout
