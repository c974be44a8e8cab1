"""Who may watch a live room, and what each viewer is shown of the other people in it.

| role | watches | sees of other people in broadcast events |
|---|---|---|
| host, admin, operator | yes | a comment's `user_id`, a lucky bag's `winners` as user ids |
| resident, grid, pickup | yes | masked names (王*香), never a user id; a winner's own copy says `won` |
| supplier | no (403) | nothing |

Only two broadcast events name people: ``comment`` and ``lucky_bag_result``. Each is published
once, in full; every web process's hub makes its editions from those bytes once each (the staff
edition is the published bytes, then the public one, then a winner's) and hands every viewer the
bytes of its edition. Every other event names nobody and stays the same bytes for everyone.
docs/protocol.md has the table for every frame and route.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import display_names

log = logging.getLogger(__name__)

# The community's organizers: they moderate comments and audit draws, so they see user ids.
STAFF_ROLES = ("host", "admin", "operator")
# Everyone else who may be in the room; a supplier is not (it sees aggregates only, never a resident).
WATCH_ROLES = ("resident", "grid", "pickup", *STAFF_ROLES)
NAMED_EVENTS = (b"comment", b"lucky_bag_result")
_TYPE = b'"type":"'

NameLookup = Callable[[Collection[str]], Awaitable[dict[str, str]]]


def may_watch(role: str) -> bool:
    """Whether a token of ``role`` may join a live room, or read its bags and red packets."""
    return role in WATCH_ROLES


def sees_ids(role: str) -> bool:
    """Whether a viewer of ``role`` is shown other people's user ids."""
    return role in STAFF_ROLES


def resident_names(engine: AsyncEngine) -> NameLookup:
    """Masked names of registered residents; a database that does not answer costs the names only."""
    async def lookup(user_ids: Collection[str]) -> dict[str, str]:
        if not user_ids:
            return {}
        try:
            return await display_names(engine, user_ids)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("resident names unavailable, showing none: %s", exc)
            return {}
    return lookup


def event_type(data: bytes) -> bytes:
    """The ``type`` of a published event: its first ``"type":"``, since only numbers (seq, ts) precede it."""
    at = data.find(_TYPE)
    if at < 0:
        return b""
    start = at + len(_TYPE)
    return data[start:data.find(b'"', start)]


def winners_of(data: bytes) -> list[str]:
    """The user ids a lucky_bag_result names; [] for every other event."""
    if event_type(data) != b"lucky_bag_result":
        return []
    winners = msgspec.json.decode(data).get("winners") or []
    return [str(w) for w in winners]


@dataclass(frozen=True, slots=True)
class Editions:
    """One event as each audience gets it, each encoded once."""

    staff: bytes
    public: bytes
    won: bytes = b""  # a winner's own public edition
    winners: frozenset[str] = frozenset()

    def for_viewer(self, user_id: str, role: str) -> bytes:
        if sees_ids(role):
            return self.staff
        return self.won if user_id in self.winners else self.public


def editions(data: bytes, names: dict[str, str] | None = None) -> Editions | None:
    """The editions of an event that names people (``names``: masked names by user id), or None
    when the event names nobody and every viewer gets ``data`` itself."""
    kind = event_type(data)
    if kind not in NAMED_EVENTS:
        return None
    event: dict[str, Any] = msgspec.json.decode(data)
    if kind == b"comment":
        # The author's masked name and role were put in the event when it was published.
        return Editions(staff=data, public=msgspec.json.encode(
            {k: v for k, v in event.items() if k != "user_id"}))
    winners = [str(w) for w in event.get("winners") or []]
    named = names or {}
    public = {k: v for k, v in event.items() if k != "winners"}
    public["winner_names"] = [named.get(w, "") for w in winners]
    return Editions(staff=data, public=msgspec.json.encode(public),
                    won=msgspec.json.encode({**public, "won": True}), winners=frozenset(winners))
