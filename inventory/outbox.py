"""The order outbox: what a session's outbox stream holds, defined once.

Lua scripts append entries in the same call that changes stock (``reserve_stock``,
``release_order``, ``confirm_hold``), draws a lucky bag or hands out red-packet points (stream's
``draw_lucky_bag`` and ``grab_red_packet``); orders' worker drains them into SQL. An entry is a flat
hash of strings whose ``event`` field names its kind; the Structs below are the only description
of the fields, and tests/test_outbox_entries.py checks every script's XADD against them.
"""

from __future__ import annotations

import msgspec

from inventory import keys

# Not per session: every session's outbox, so the worker knows what to drain.
REGISTRY = keys.OUTBOX_REGISTRY
# The consumer group of orders' workers on every outbox.
GROUP = "orders"



class OrderChange(msgspec.Struct, kw_only=True, tag_field="event"):
    """A resident order as it stands after the change; its id is the SQL primary key."""

    order: str
    session: str
    item: str
    user: str
    qty: int
    price: int  # cents per unit at the time of the reservation
    kind: str  # grab, hold or prize
    rid: str  # the request id that made it
    ts: int  # epoch ms of the reservation


class Reserved(OrderChange, tag="reserved"):
    """Units taken from stock for a user (a grab, a hold for a wish, a prize)."""

    proxy: str = ""  # the grid worker who grabbed for the user; "" when she grabbed herself


class Released(OrderChange, tag="released"):
    """An order's units went back to stock (cancelled, or a hold nobody confirmed)."""

    changed_ts: int
    why: str


class Confirmed(OrderChange, tag="confirmed"):
    """A hold its wisher kept."""

    changed_ts: int


class BagDrawn(msgspec.Struct, kw_only=True, tag_field="event", tag="bag_drawn"):
    """A lucky bag's draw, for the audit: anyone with the seed and entrants can redo it."""

    session: str
    bag: str
    title: str
    seed: str
    entrants: str  # JSON list of user ids
    winners: str  # JSON list of user ids
    prize_item: str  # '' when the prize is points only
    prize_points: int
    ts: int
    # Since provably fair draws (stream.fairness); '' in entries written before.
    seed_hash: str = ""
    rule: str = ""
    options: str = ""  # JSON of stream.fairness.DrawOptions


class PointsAwarded(msgspec.Struct, kw_only=True, tag_field="event", tag="points"):
    """Points for one user, written to the ledger once (the id is its idempotency key)."""

    id: str
    session: str
    user: str
    points: int
    reason: str
    ts: int


Entry = Reserved | Released | Confirmed | BagDrawn | PointsAwarded
# Looked up by the event field rather than converted as a union: a union conversion cost about 14 µs
# an entry, a single kind about 1.5 µs, and the worker decodes every grab.
KINDS: dict[str, type[Entry]] = {
    str(kind.__struct_config__.tag): kind for kind in (Reserved, Released, Confirmed, BagDrawn, PointsAwarded)
}


class UnknownEntry(ValueError):
    """An outbox entry that no kind here describes (written by a newer or a broken script)."""


def decode_entry(fields: dict[bytes, bytes]) -> Entry:
    """The typed entry for one stream entry's fields (as redis-py returns them)."""
    text = {k.decode(): v.decode() for k, v in fields.items()}
    kind = KINDS.get(text.get("event", ""))
    if kind is None:
        raise UnknownEntry(f"no kind of entry has the event {text.get('event')!r}: {text}")
    try:
        # strict=False: every value in a stream is a string, and the Structs say which are numbers.
        entry: Entry = msgspec.convert(text, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise UnknownEntry(f"{exc}: {text}") from exc
    return entry


def outbox_key(sid: str) -> str:
    """A session's outbox stream (for other rooms' scripts that append to it, and for the worker)."""
    return keys.outbox(sid)


def session_of(outbox: str | bytes) -> str:
    """The session whose outbox this is (the inverse of ``outbox_key``)."""
    return keys.session_of_outbox(outbox.decode() if isinstance(outbox, bytes) else outbox)
