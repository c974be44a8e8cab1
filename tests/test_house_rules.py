"""The house rules of docs/architecture.md, checked on the source: arrows only point down, and a
room is entered only through its public face."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent

# Floors from the top: a room may import rooms on its own floor (through their faces) or below.
FLOORS = {
    "linli": 3, "bench": 3, "loadtest": 3,
    "stream": 2, "crowdfund": 2, "orders": 2, "community": 2,
    "inventory": 1,
    "infra": 0,
}
# What other rooms may import from each room: its public face. The ground floor is open.
FACES = {
    "stream": {"stream.api"},
    "crowdfund": {"crowdfund.api"},
    "orders": {"orders.api"},
    "community": {"community.api"},
    "inventory": {"inventory", "inventory.outbox"},
}
# Where a tool must reach behind a face, and why.
BACK_DOORS = {
    ("bench", "inventory.keys"),  # the reserve baselines call the script itself, with its KEYS
}


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from stream import sessions` enters the room as surely as `import stream.sessions`.
            package = root.joinpath(*node.module.split("."))
            for alias in node.names:
                is_module = (package / f"{alias.name}.py").is_file() or (package / alias.name).is_dir()
                found.append((node.lineno, f"{node.module}.{alias.name}" if is_module else node.module))
    return found


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for room, floor in FLOORS.items():
        for path in sorted((root / room).rglob("*.py")):
            where = path.relative_to(root)
            for line, module in imports_of(path, root):
                other = module.split(".")[0]
                if other not in FLOORS or other == room or (room, module) in BACK_DOORS:
                    continue
                if FLOORS[other] > floor:
                    found.append(f"{where}:{line} imports {module}: an arrow up")
                elif other in FACES and module not in FACES[other]:
                    found.append(f"{where}:{line} imports {module}: use {' or '.join(sorted(FACES[other]))}")
    return found


def test_arrows_point_down_and_rooms_are_entered_through_their_faces() -> None:
    """No room imports a room above it, and another room's modules only through its face."""
    assert violations() == []


def test_the_rule_sees_a_violation(tmp_path: Path) -> None:
    """The checker finds an arrow up, a back door into a room, and passes a face."""
    for room, source in {"infra": "from stream.api import Live\n", "crowdfund": "from stream.hub import Hub\n",
                         "orders": "from community.api import get_community\nimport inventory\n",
                         "community": "from stream import hub\n"}.items():
        (tmp_path / room).mkdir()
        (tmp_path / room / "m.py").write_text(source)
    (tmp_path / "stream").mkdir()
    (tmp_path / "stream" / "hub.py").write_text("")
    assert sorted(violations(tmp_path)) == [
        "community/m.py:1 imports stream.hub: use stream.api",
        "crowdfund/m.py:1 imports stream.hub: use stream.api",
        "infra/m.py:1 imports stream.api: an arrow up",
    ]
