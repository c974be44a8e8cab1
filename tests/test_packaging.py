"""What users install: the wheel carries every module and data file of every room."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SKIP_PARTS = {"__pycache__"}


def shipped_rooms() -> list[str]:
    """The top-level packages pyproject.toml says to ship."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(p.name for p in ROOT.iterdir()
                  if (p / "__init__.py").is_file() and any(fnmatch(p.name, pat) for pat in patterns))


@pytest.mark.timeout(180)
def test_the_wheel_holds_every_file_of_every_room(tmp_path: Path) -> None:
    """Every file under a shipped room (modules, Lua scripts, pages, templates) is in the wheel."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("linli-*.whl")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    rooms = shipped_rooms()
    assert {"linli", "infra", "inventory", "stream", "crowdfund", "orders", "community"} <= set(rooms)
    expected = {
        path.relative_to(ROOT).as_posix()
        for room in rooms for path in (ROOT / room).rglob("*")
        if path.is_file() and not SKIP_PARTS & set(path.parts) and path.suffix != ".pyc"
    }
    missing = sorted(expected - in_wheel)
    assert not missing, f"the wheel leaves out {missing}"
