"""The video players linli serves are exactly the ones package-lock.json pins, byte for byte.

linli ships hls.js (HLS) and mpegts.js (a platform's FLV) in linli/static/vendor so that
`pip install .` needs no npm and the pages load no CDN. The lock file is the record of where those
copies came from: `npm ci` fetches each pinned tarball, checks it against the lock's integrity hash,
and the files inside must equal the vendored ones.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
VENDOR = ROOT / "linli" / "static" / "vendor"
# (npm package, file inside it, name in linli/static/vendor): `npm run vendor` copies these.
COPIES = [
    ("hls.js", "dist/hls.light.min.mjs", "hls.light.min.mjs"),
    ("hls.js", "LICENSE", "hls.js.LICENSE"),
    ("mpegts.js", "dist/mpegts.js", "mpegts.js"),
    ("mpegts.js", "dist/mpegts.js.LICENSE.txt", "mpegts.js.LICENSE.txt"),
    ("mpegts.js", "LICENSE", "mpegts.js.LICENSE"),
]


def test_the_lock_pins_the_versions_package_json_asks_for() -> None:
    """package.json names one exact version of each player, the lock file holds it with an integrity hash, and
    nothing in linli/static/vendor comes from anywhere else."""
    wanted = json.loads((ROOT / "package.json").read_text())["dependencies"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for package in {p for p, _, _ in COPIES}:
        assert wanted[package] == locked[f"node_modules/{package}"]["version"], f"{package}: package.json != lock"
        assert locked[f"node_modules/{package}"]["integrity"].startswith("sha512-")
    assert f'"{wanted["hls.js"]}"' in (VENDOR / "hls.light.min.mjs").read_text(encoding="utf-8")
    assert sorted(p.name for p in VENDOR.iterdir()) == sorted(name for _, _, name in COPIES)


@pytest.mark.timeout(300)
def test_the_vendored_players_are_the_files_of_the_locked_tarballs(tmp_path: Path) -> None:
    """`npm ci` (which checks each tarball's sha512 against the lock) unpacks the bytes in linli/static/vendor."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the vendored player cannot be checked against the lock file here")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, f"npm ci failed (the lock's integrity or the registry):\n{done.stderr[-2000:]}"
    for package, inside, name in COPIES:
        assert (tmp_path / "node_modules" / package / inside).read_bytes() == (VENDOR / name).read_bytes(), \
            f"linli/static/vendor/{name} drifted from the lock file: run `npm ci && npm run vendor`"
