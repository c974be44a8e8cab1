"""Wish windows: one per live session, open from ``open_days_before`` days before it until the cutoff."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Self

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.errors import WindowClosed, WindowNotFound
from infra.auth import Principal
from infra.errors import BadRequest, Conflict, Forbidden
from infra.tables import live_sessions, wish_windows
from infra.types import Id

DAY_MS = 24 * 3600 * 1000


class NewWindow(msgspec.Struct, kw_only=True):
    session_id: Id
    live_at: int  # epoch ms when the live session starts
    open_days_before: Annotated[int, msgspec.Meta(ge=0, le=30)] = 3
    cutoff_at: int | None = None  # default: 12 hours before the live, so suppliers can deliver
    hold_release_at: int | None = None  # default: 30 minutes into the live


class WindowView(msgspec.Struct, kw_only=True):
    """A wish window; times are epoch ms."""

    id: str
    session_id: str
    community_id: str
    opens_at: int
    cutoff_at: int
    live_at: int
    hold_release_at: int
    status: str  # open, closed, aggregated or released
    accepting: bool  # open and between opens_at and cutoff_at now

    @classmethod
    def of(cls, row: sa.Row, **more: Any) -> Self:
        """The view of a window's row, with a subclass's ``more`` fields."""
        return cls(id=row.id, session_id=row.session_id, community_id=row.community_id,
                   opens_at=dt_to_ms(row.opens_at), cutoff_at=dt_to_ms(row.cutoff_at), live_at=dt_to_ms(row.live_at),
                   hold_release_at=dt_to_ms(row.hold_release_at), status=row.status, accepting=accepting(row), **more)


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def dt_to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def accepting(row: sa.Row, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return row.status == "open" and row.opens_at <= now < row.cutoff_at


async def create_window(engine: AsyncEngine, principal: Principal, body: NewWindow) -> WindowView:
    cutoff = body.cutoff_at if body.cutoff_at is not None else body.live_at - DAY_MS // 2
    release = body.hold_release_at if body.hold_release_at is not None else body.live_at + 30 * 60 * 1000
    opens = body.live_at - body.open_days_before * DAY_MS
    if not opens < cutoff <= body.live_at <= release:
        raise BadRequest("times must satisfy opens_at < cutoff_at <= live_at <= hold_release_at")
    async with engine.begin() as conn:
        session = (await conn.execute(sa.select(live_sessions).where(live_sessions.c.id == body.session_id))).first()
        if session is None:
            raise BadRequest(f"no live session {body.session_id}", code="unknown_session")
        if not principal.can_act_in(session.community_id):
            raise Forbidden("that session belongs to another community")
        wid = "w" + secrets.token_hex(5)
        try:
            await conn.execute(wish_windows.insert().values(
                id=wid, session_id=body.session_id, community_id=session.community_id, opens_at=ms_to_dt(opens),
                cutoff_at=ms_to_dt(cutoff), live_at=ms_to_dt(body.live_at), hold_release_at=ms_to_dt(release),
                status="open"))
        except sa.exc.IntegrityError as exc:
            raise Conflict("this live session already has a wish window") from exc
    return await get_window(engine, wid)


async def window_row(engine: AsyncEngine, wid: str) -> sa.Row:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(wish_windows).where(wish_windows.c.id == wid))).first()
    if row is None:
        raise WindowNotFound(f"no wish window {wid}")
    return row


async def get_window(engine: AsyncEngine, wid: str) -> WindowView:
    return WindowView.of(await window_row(engine, wid))


async def open_window_for(engine: AsyncEngine, principal: Principal, wid: str) -> sa.Row:
    """The window, checked to be the caller's community and accepting wishes now."""
    row = await window_row(engine, wid)
    if not principal.can_act_in(row.community_id):
        raise Forbidden("that wish window belongs to another community")
    if not accepting(row):
        now = datetime.now(UTC)
        when = "has not opened yet" if now < row.opens_at else "is past its cutoff"
        raise WindowClosed(f"the wish window {when}")
    return row


async def due_windows(engine: AsyncEngine, now: datetime | None = None) -> list[str]:
    """Windows whose cutoff has passed but whose cutoff work is not finished."""
    now = now or datetime.now(UTC)
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(wish_windows.c.id).where(
            sa.or_(sa.and_(wish_windows.c.status == "open", wish_windows.c.cutoff_at <= now),
                   wish_windows.c.status == "closed")).order_by(wish_windows.c.cutoff_at))
        return [r.id for r in rows]


async def upcoming_cutoffs(engine: AsyncEngine) -> list[tuple[str, datetime]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(wish_windows.c.id, wish_windows.c.cutoff_at)
                                  .where(wish_windows.c.status == "open"))
        return [(r.id, r.cutoff_at) for r in rows]

