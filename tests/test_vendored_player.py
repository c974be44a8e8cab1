"""The video player linli serves is exactly the one package-lock.json pins, byte for byte.

linli ships hls.js in linli/static/vendor so that `pip install .` needs no npm and the pages load no
CDN. The lock file is the record of where that copy came from: `npm ci` fetches the pinned tarball,
checks it against the lock's integrity hash, and the file inside must equal the vendored one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
VENDOR = ROOT / "linli" / "static" / "vendor"
PLAYER = "hls.light.min.mjs"


def test_the_lock_pins_the_version_package_json_asks_for() -> None:
    """package.json names one exact hls.js version and the lock file holds that version with an integrity hash."""
    wanted = json.loads((ROOT / "package.json").read_text())["dependencies"]["hls.js"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/hls.js"]
    assert wanted == locked["version"], "package.json and package-lock.json name different hls.js versions"
    assert locked["integrity"].startswith("sha512-")
    assert f'"{wanted}"' in (VENDOR / PLAYER).read_text(encoding="utf-8"), "the vendored player is another version"


@pytest.mark.timeout(300)
def test_the_vendored_player_is_the_file_of_the_locked_tarball(tmp_path: Path) -> None:
    """`npm ci` (which verifies the tarball's sha512 against the lock) unpacks the same bytes as linli/static/vendor."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the vendored player cannot be checked against the lock file here")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, f"npm ci failed (the lock's integrity or the registry):\n{done.stderr[-2000:]}"
    unpacked = tmp_path / "node_modules" / "hls.js"
    assert (unpacked / "dist" / PLAYER).read_bytes() == (VENDOR / PLAYER).read_bytes(), \
        "linli/static/vendor drifted from the lock file: run `npm ci && npm run vendor`"
    assert (unpacked / "LICENSE").read_bytes() == (VENDOR / "hls.js.LICENSE").read_bytes()
