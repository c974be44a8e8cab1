"""The outbox entry is defined once (inventory/outbox.py): every script that appends to an
outbox writes exactly the fields its kind declares, and the worker reads them from there."""

from __future__ import annotations

import re
from importlib import resources

import msgspec
import pytest

from inventory import outbox

# The scripts that XADD to a session's outbox, and the kind each appends.
WRITERS = {
    ("inventory.lua", "reserve_stock"): outbox.Reserved,
    ("inventory.lua", "release_order"): outbox.Released,
    ("inventory.lua", "confirm_hold"): outbox.Confirmed,
    ("stream.lua", "draw_lucky_bag"): outbox.BagDrawn,
    ("stream.lua", "grab_red_packet"): outbox.PointsAwarded,
}


def top_level_args(call: str) -> list[str]:
    """The comma-separated arguments of a Lua call's argument text, ignoring commas in brackets."""
    args, depth, current = [], 0, ""
    for ch in call:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += ch
    return [*args, current.strip()]


def xadd_fields(source: str) -> list[tuple[str, str]]:
    """(field, value expression) pairs of the outbox XADD in a script."""
    calls = []
    for match in re.finditer(r"redis\.call\('XADD',", source):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            end += 1
        args = top_level_args(source[match.end():end - 1])
        if args[1] != "'*'":
            continue  # the session's event history (MAXLEN, an id of its own), not the outbox
        calls.append(list(zip(args[2::2], args[3::2], strict=True)))
    assert len(calls) == 1, "each writer appends one outbox entry"
    return calls[0]


@pytest.mark.parametrize(("package", "name"), list(WRITERS))
def test_each_script_writes_the_fields_its_kind_declares(package: str, name: str) -> None:
    """The XADD in each script names the kind's tag and exactly the kind's fields."""
    kind = WRITERS[(package, name)]
    fields = xadd_fields((resources.files(package) / f"{name}.lua").read_text(encoding="utf-8"))
    names = [field.strip("'") for field, _ in fields]
    info = msgspec.structs.fields(kind)
    assert fields[0] == ("'event'", f"'{kind.__struct_config__.tag}'")
    assert sorted(names[1:]) == sorted(f.name for f in info)


def test_an_entry_of_no_known_kind_is_refused_with_its_fields() -> None:
    """An unknown event or a missing field is an UnknownEntry naming what was wrong."""
    with pytest.raises(outbox.UnknownEntry, match="event"):
        outbox.decode_entry({b"event": b"teleported", b"order": b"s-1"})
    with pytest.raises(outbox.UnknownEntry, match="qty"):
        outbox.decode_entry({b"event": b"reserved", b"order": b"s-1", b"session": b"s", b"item": b"i1",
                             b"user": b"u", b"price": b"100", b"kind": b"grab", b"rid": b"r", b"ts": b"1"})


def test_numbers_arrive_as_numbers() -> None:
    """Stream values are strings; the declared numbers come out as ints."""
    entry = outbox.decode_entry({b"event": b"points", b"id": b"rp:p1:u1", b"session": b"s", b"user": b"u1",
                                 b"points": b"25", b"reason": b"red_packet", b"ts": b"1700000000000"})
    assert entry == outbox.PointsAwarded(id="rp:p1:u1", session="s", user="u1", points=25, reason="red_packet",
                                         ts=1_700_000_000_000)
