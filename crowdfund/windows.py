"""Wish windows: one per live session, open from ``open_days_before`` days before it until the cutoff.

A window is never born dead: its cutoff must lie ahead. A session whose window holds no wishes
(still open, or closed empty) gets it replaced in place when the host creates one again, so a
mistyped time never leaves a session without a window. The host is warned when a product
offered to the community could only arrive after the live (cutoff + lead time > live_at).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Self

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.catalog import offered_clause
from crowdfund.errors import CutoffPassed, WindowClosed, WindowExists, WindowNotFound
from infra.auth import Principal
from infra.errors import BadRequest, Conflict, Forbidden
from infra.tables import live_sessions, products, wish_lines, wish_windows
from infra.types import EpochMs, Id

DAY_MS = 24 * 3600 * 1000


class NewWindow(msgspec.Struct, kw_only=True):
    session_id: Id
    live_at: EpochMs  # when the live session starts
    open_days_before: Annotated[int, msgspec.Meta(ge=0, le=30)] = 3
    cutoff_at: EpochMs | None = None  # default: 12 hours before the live, so suppliers can deliver
    hold_release_at: EpochMs | None = None  # default: 30 minutes into the live


class WindowWarning(msgspec.Struct, kw_only=True):
    """Something the host should know before the cutoff: a code and its parameters, which pages render.

    delivery_after_live: {product_id, product_name, lead_time_hours, deliver_by, live_at, latest_cutoff}
    (times epoch ms): ordered at this cutoff, the product arrives after the live starts.
    """

    code: str
    params: dict[str, Any]


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
    warnings: list[WindowWarning] = []

    @classmethod
    def of(cls, row: sa.Row[Any], **more: Any) -> Self:
        """The view of a window's row, with a subclass's ``more`` fields."""
        return cls(id=row.id, session_id=row.session_id, community_id=row.community_id,
                   opens_at=dt_to_ms(row.opens_at), cutoff_at=dt_to_ms(row.cutoff_at), live_at=dt_to_ms(row.live_at),
                   hold_release_at=dt_to_ms(row.hold_release_at), status=row.status, accepting=accepting(row), **more)


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def dt_to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def accepting(row: sa.Row[Any], now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    status: str = row.status
    opens_at: datetime = row.opens_at
    cutoff_at: datetime = row.cutoff_at
    return status == "open" and opens_at <= now < cutoff_at


async def create_window(engine: AsyncEngine, principal: Principal, body: NewWindow) -> WindowView:
    """Open the session's window; one that holds no wishes yet is replaced (same id, new times, open)."""
    cutoff = body.cutoff_at if body.cutoff_at is not None else body.live_at - DAY_MS // 2
    release = body.hold_release_at if body.hold_release_at is not None else body.live_at + 30 * 60 * 1000
    opens = body.live_at - body.open_days_before * DAY_MS
    if not opens < cutoff <= body.live_at <= release:
        raise BadRequest("times must satisfy opens_at < cutoff_at <= live_at <= hold_release_at")
    if ms_to_dt(cutoff) <= datetime.now(UTC):
        # Such a window would be aggregated empty at once, and hold the session's only place.
        raise CutoffPassed(f"the cutoff {ms_to_dt(cutoff).isoformat(timespec='minutes')} has passed already; "
                           "choose a later cutoff_at (or live_at)")
    times = {"opens_at": ms_to_dt(opens), "cutoff_at": ms_to_dt(cutoff), "live_at": ms_to_dt(body.live_at),
             "hold_release_at": ms_to_dt(release), "status": "open", "closed_at": None}
    async with engine.begin() as conn:
        session = (await conn.execute(sa.select(live_sessions).where(live_sessions.c.id == body.session_id))).first()
        if session is None:
            raise BadRequest(f"no live session {body.session_id}", code="unknown_session")
        if not principal.can_act_in(session.community_id):
            raise Forbidden("that session belongs to another community")
        if session.status == "ended":
            raise Conflict("that live session has ended", code="wrong_state")
        wid = await conn.scalar(sa.select(wish_windows.c.id).where(wish_windows.c.session_id == body.session_id))
        if wid is None:
            wid = "w" + secrets.token_hex(5)
            try:
                await conn.execute(wish_windows.insert().values(
                    id=wid, session_id=body.session_id, community_id=session.community_id, **times))
            except sa.exc.IntegrityError as exc:
                raise WindowExists("this live session got a wish window just now") from exc
        else:
            # One conditional UPDATE: a wish that lands meanwhile, or a cutoff at work, keeps the window.
            wished = sa.exists().where(wish_lines.c.window_id == wid, wish_lines.c.status == "active")
            replaced = await conn.execute(wish_windows.update().where(
                wish_windows.c.id == wid, wish_windows.c.status != "closed", ~wished).values(**times))
            if replaced.rowcount != 1:
                raise WindowExists(f"this live session's wish window {wid} holds wishes already (or its cutoff is "
                                   "running); keep it, or close it now")
    return await get_window(engine, wid)


async def window_warnings(engine: AsyncEngine, row: sa.Row[Any]) -> list[WindowWarning]:
    """What the host should know: products (offered here, or wished in this window) that could only be
    delivered after the live if ordered at this cutoff."""
    wished = sa.select(wish_lines.c.product_id).where(wish_lines.c.window_id == row.id,
                                                      wish_lines.c.status == "active")
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(products.c.id, products.c.name, products.c.lead_time_hours)
                                   .where(sa.or_(offered_clause(row.community_id), products.c.id.in_(wished)))
                                   .order_by(products.c.id))).all()
    warnings = []
    for p in rows:
        deliver_by = row.cutoff_at + timedelta(hours=p.lead_time_hours)
        if deliver_by > row.live_at:
            warnings.append(WindowWarning(code="delivery_after_live", params={
                "product_id": p.id, "product_name": p.name, "lead_time_hours": p.lead_time_hours,
                "deliver_by": dt_to_ms(deliver_by), "live_at": dt_to_ms(row.live_at),
                "latest_cutoff": dt_to_ms(row.live_at - timedelta(hours=p.lead_time_hours))}))
    return warnings


async def window_row(engine: AsyncEngine, wid: str) -> sa.Row[Any]:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(wish_windows).where(wish_windows.c.id == wid))).first()
    if row is None:
        raise WindowNotFound(f"no wish window {wid}")
    return row


async def get_window(engine: AsyncEngine, wid: str) -> WindowView:
    row = await window_row(engine, wid)
    return WindowView.of(row, warnings=await window_warnings(engine, row))


class ListedWindow(WindowView, kw_only=True):
    session_title: str
    session_status: str  # draft, live or ended


class WindowList(msgspec.Struct, kw_only=True):
    windows: list[ListedWindow]  # accepting first, then those yet to open, then past ones (newest first)


PAST_WINDOWS = 20


async def community_windows(engine: AsyncEngine, community_id: str) -> WindowList:
    """A community's windows for its residents: where to wish now, what comes, what was."""
    async with engine.connect() as conn:
        rows = (await conn.execute(
            sa.select(wish_windows, live_sessions.c.title.label("session_title"),
                      live_sessions.c.status.label("session_status"))
            .join(live_sessions, live_sessions.c.id == wish_windows.c.session_id)
            .where(wish_windows.c.community_id == community_id))).all()
    now = datetime.now(UTC)

    def rank(r: sa.Row[Any]) -> tuple[int, float]:
        if accepting(r, now):
            return 0, r.cutoff_at.timestamp()
        if r.status == "open" and now < r.opens_at:
            return 1, r.opens_at.timestamp()
        return 2, -r.live_at.timestamp()

    ranked = sorted(rows, key=rank)
    current = [r for r in ranked if rank(r)[0] < 2]
    past = [r for r in ranked if rank(r)[0] == 2][:PAST_WINDOWS]
    return WindowList(windows=[
        ListedWindow.of(r, warnings=await window_warnings(engine, r), session_title=r.session_title,
                        session_status=r.session_status) for r in current + past])


async def open_window_for(engine: AsyncEngine, principal: Principal, wid: str) -> sa.Row[Any]:
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

