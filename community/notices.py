"""Notices: what a resident is told, kept in SQL so she reads it whenever she next looks.

A notice is stored once per cause (its ``dedupe_key``): a job that runs again, or a cutoff
repeated after a crash, tells nobody twice. The stored row is the in-app inbox. Every other
way of telling (a frame in the live room now; an SMS or a WeChat template message later) is a
``Channel`` handed to ``notify``, and gets each notice once, right after it is first stored.
Pages render ``kind`` and ``params`` in their own language (docs/api.md lists them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infra.tables import notices
from infra.types import RowId

log = logging.getLogger(__name__)

IN_APP = "app"
MAX_PAGE = 100
# Rows per INSERT: a cutoff may tell two thousand households at once, and both SQLite and
# asyncpg cap the bind parameters of one statement.
CHUNK = 500


class NewNotice(msgspec.Struct, kw_only=True):
    """A notice to store: for whom, what (kind and params), about which page, and its one cause."""

    user_id: str
    community_id: str
    kind: str
    params: dict[str, Any] = {}
    link: str | None = None
    dedupe_key: str


class Notice(msgspec.Struct, kw_only=True):
    id: int
    user_id: str
    community_id: str
    kind: str  # see docs/api.md: wish_held, hold_release_soon, hold_released, ...
    params: dict[str, Any]
    link: str | None
    created_at: int  # epoch ms
    read_at: int | None = None  # epoch ms, None while unread


class Inbox(msgspec.Struct, kw_only=True):
    notices: list[Notice]  # newest first
    unread: int  # all of the caller's unread notices, not only this page's


class MarkRead(msgspec.Struct, kw_only=True):
    """Give ``ids`` (some notices) or ``all: true`` (every notice of the caller)."""

    ids: Annotated[list[RowId], Meta(max_length=MAX_PAGE)] | None = None
    all: bool = False


class Unread(msgspec.Struct, kw_only=True):
    unread: int


class Channel(Protocol):
    """A way to tell a resident besides the in-app inbox (e.g. a live-room frame, later SMS)."""

    name: str

    async def send(self, notice: Notice) -> None: ...


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def _view(row: sa.Row[Any]) -> Notice:
    return Notice(id=row.id, user_id=row.user_id, community_id=row.community_id, kind=row.kind,
                  params=json.loads(row.params), link=row.link, created_at=_ms(row.created_at) or 0,
                  read_at=_ms(row.read_at))


async def record(conn: AsyncConnection, new: Sequence[NewNotice], channels: Sequence[Channel] = ()) -> list[Notice]:
    """Store notices in the caller's transaction, each cause once; returns those stored now."""
    if not new:
        return []
    insert = (sqlite if conn.dialect.name == "sqlite" else postgresql).insert
    names = ",".join([IN_APP, *(c.name for c in channels)])
    now = datetime.now(UTC)
    stored: list[Notice] = []
    for start in range(0, len(new), CHUNK):
        rows = [{"user_id": n.user_id, "community_id": n.community_id, "kind": n.kind,
                 "params": json.dumps(n.params, ensure_ascii=False, sort_keys=True), "link": n.link,
                 "dedupe_key": n.dedupe_key, "channels": names, "created_at": now}
                for n in new[start:start + CHUNK]]
        result = await conn.execute(insert(notices).values(rows)
                                    .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(*notices.c))
        stored += [_view(r) for r in result]
    return sorted(stored, key=lambda n: n.id)


async def deliver(stored: Sequence[Notice], channels: Sequence[Channel]) -> None:
    """Send stored notices through the other channels; a failing channel costs only its own sends."""
    for channel in channels:
        for notice in stored:
            try:
                await channel.send(notice)
            except Exception:  # the notice is in the inbox already; a channel must not stop the others
                log.warning("notice %s not sent by %s", notice.id, channel.name, exc_info=True)


async def notify(engine: AsyncEngine, new: Sequence[NewNotice], channels: Sequence[Channel] = ()) -> list[Notice]:
    """Store notices (each cause once) and send the new ones through ``channels``; returns the new ones."""
    async with engine.begin() as conn:
        stored = await record(conn, new, channels)
    await deliver(stored, channels)
    return stored


async def _unread(conn: AsyncConnection, user_id: str) -> int:
    return int(await conn.scalar(sa.select(sa.func.count()).select_from(notices).where(
        notices.c.user_id == user_id, notices.c.read_at.is_(None))) or 0)


async def inbox(engine: AsyncEngine, user_id: str, *, limit: int = 50, before: int | None = None) -> Inbox:
    """A user's notices, newest first (``before``: only older than that id), and how many are unread."""
    query = sa.select(notices).where(notices.c.user_id == user_id)
    if before is not None:
        query = query.where(notices.c.id < before)
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(notices.c.id.desc()).limit(max(1, min(limit, MAX_PAGE))))).all()
        return Inbox(notices=[_view(r) for r in rows], unread=await _unread(conn, user_id))


async def mark_read(engine: AsyncEngine, user_id: str, ids: Sequence[int] | None) -> Unread:
    """Mark some (``ids``) or all (None) of a user's notices read; another user's ids change nothing."""
    update = notices.update().where(notices.c.user_id == user_id, notices.c.read_at.is_(None))
    if ids is not None:
        update = update.where(notices.c.id.in_(list(ids)))
    async with engine.begin() as conn:
        await conn.execute(update.values(read_at=datetime.now(UTC)))
        return Unread(unread=await _unread(conn, user_id))
