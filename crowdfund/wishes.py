"""Wish lines: what a resident wants, how much, and where to pick it up.

A resident adds, edits and withdraws their own lines until the cutoff; a grid worker may do
so for a resident of their grid, and a community's admin (an operator anywhere) for a resident
of the community (the line records who entered it). A wish for something not in the catalog is
kept as free text, a demand signal for the organizers.

Asking about someone else's resident, or someone else's line, gets the same answer as asking
about one that does not exist, so no answer tells which ids are registered.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import grid_worker_of, pickup_point_in
from crowdfund.catalog import offered_product
from crowdfund.errors import NotAResident, WishNotFound
from crowdfund.windows import open_window_for, window_row
from infra.auth import Principal
from infra.errors import BadRequest, Forbidden, NotFound
from infra.tables import orders, wish_lines, wish_outcomes, wish_windows
from infra.types import Id

MAX_WISH_QTY = 10_000
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
WishQty = Annotated[int, Meta(ge=1, le=MAX_WISH_QTY, description="whole units of the product's unit")]


class NewWish(msgspec.Struct, kw_only=True):
    qty: WishQty
    pickup_point_id: Id
    product_id: Id | None = None
    free_text: Annotated[str, Meta(max_length=200, description="a wish for something not in the catalog")] | None = None
    resident_id: Id | None = None  # a grid worker entering for a resident


class WishEdit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A line may change its qty and pickup point; anything else (its product, its resident) is refused."""

    qty: WishQty | None = None
    pickup_point_id: Id | None = None


class WishLine(msgspec.Struct, kw_only=True):
    id: int
    window_id: str
    resident_id: str
    product_id: str | None
    free_text: str | None
    qty: int
    pickup_point_id: str
    entered_by: str
    proxy: bool  # entered by someone else for the resident
    source: str  # app, proxy or chain
    status: str  # active or withdrawn


class HoldState(msgspec.Struct, kw_only=True):
    """The hold a wish became, as it stands now (it follows the live room, through the orders table)."""

    status: str  # reserved (waiting for her tap in the live room), confirmed, or released
    release_at: int  # epoch ms: an unconfirmed hold goes back to the live sale then
    why: str | None = None  # when released: not_confirmed (not kept by release_at) or cancelled


class Outcome(msgspec.Struct, kw_only=True):
    status: str  # held, partly_held, shortfall, not_viable or not_in_catalog
    held_qty: int
    order_id: str | None
    reason: str | None  # in English; pages say it in their language from code and params
    code: str = ""  # the outcome as a code (docs/api.md lists each with its params)
    params: dict[str, Any] = {}
    wished_qty: int = 0  # what the line asked for
    hold: HoldState | None = None  # held and partly_held only


class WishWithOutcome(WishLine, kw_only=True):
    outcome: Outcome | None  # None until the cutoff


class Withdrawn(msgspec.Struct, kw_only=True):
    id: int
    status: str


def normalize_text(text: str) -> str:
    """Fold width, case and punctuation so 红薯！ and 红薯 count as one demand signal."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text)).lower()


def _line_fields(row: sa.Row[Any]) -> dict[str, Any]:
    return {"id": row.id, "window_id": row.window_id, "resident_id": row.resident_id,
            "product_id": row.product_id, "free_text": row.free_text, "qty": row.qty,
            "pickup_point_id": row.pickup_point_id, "entered_by": row.entered_by,
            "proxy": row.entered_by != row.resident_id, "source": row.source, "status": row.status}


def line_view(row: sa.Row[Any]) -> WishLine:
    return WishLine(**_line_fields(row))


# Roles that act for any resident of a community they may act in: a community's admin there, an
# operator anywhere (Principal.can_act_in says where). A grid worker acts for her own grid only.
COMMUNITY_WIDE_ROLES = ("admin", "operator")


async def resident_for(engine: AsyncEngine, principal: Principal, resident_id: str | None,
                       community_id: str | None = None) -> str:
    """Whose wish this is: the caller's own, or (grid workers) a resident of their grid, or (admins,
    operators) a resident of a community they act in. Either way a registered resident (of
    ``community_id`` when given): a token alone makes nobody a resident."""
    if principal.role == "resident":
        if resident_id not in (None, principal.user_id):
            raise Forbidden("residents enter their own wishes")
        try:
            community, _ = await grid_worker_of(engine, principal.user_id)
        except NotFound as exc:
            raise NotAResident(f"{principal.user_id} is not a registered resident; ask your grid worker to "
                               "add you") from exc
        if community != principal.community_id or (community_id and community != community_id):
            raise NotAResident(f"{principal.user_id} is not registered as a resident of this community")
        return principal.user_id
    if principal.role == "grid" or principal.role in COMMUNITY_WIDE_ROLES:
        if not resident_id:
            raise BadRequest("resident_id is required when entering a wish for someone")
        await _acts_for(engine, principal, resident_id, community_id)
        return resident_id
    raise Forbidden(f"a {principal.role} cannot enter wishes")


async def _acts_for(engine: AsyncEngine, principal: Principal, resident_id: str, community_id: str | None) -> None:
    """Forbidden unless the caller acts for this registered resident (of ``community_id`` when given).

    One answer for "no such resident" and "not yours": a different one would let anyone with a
    grid token find out which ids are registered, and where."""
    try:
        community, grid_worker = await grid_worker_of(engine, resident_id)
    except NotFound:
        community, grid_worker = None, None
    ours = (community is not None and principal.can_act_in(community)
            and (community_id is None or community == community_id)
            and (principal.role != "grid" or grid_worker == principal.user_id))
    if not ours:
        where = "your grid" if principal.role == "grid" else "this community"
        raise Forbidden(f"no resident {resident_id} in {where}")


async def add_wish(engine: AsyncEngine, principal: Principal, wid: str, wish: NewWish, *,
                   imported_for: str | None = None, import_key: str | None = None) -> WishLine | None:
    """Add a line; ``imported_for`` names the resident a chain line was matched to (the caller
    checked they live in the window's community). A re-imported line returns None."""
    window = await open_window_for(engine, principal, wid)
    resident = imported_for or await resident_for(engine, principal, wish.resident_id, window.community_id)
    if bool(wish.product_id) == bool(wish.free_text and wish.free_text.strip()):
        raise BadRequest("give either product_id or free_text")
    if wish.product_id:
        await offered_product(engine, window.community_id, wish.product_id)
    await pickup_point_in(engine, window.community_id, wish.pickup_point_id)
    now = datetime.now(UTC)
    values = dict(window_id=wid, resident_id=resident, product_id=wish.product_id,
                  free_text=(wish.free_text or "").strip() or None, qty=wish.qty,
                  pickup_point_id=wish.pickup_point_id, entered_by=principal.user_id,
                  source="chain" if imported_for else ("app" if resident == principal.user_id else "proxy"),
                  import_key=import_key, status="active", created_at=now, updated_at=now)
    try:
        async with engine.begin() as tx:
            result = await tx.execute(wish_lines.insert().values(**values).returning(wish_lines.c.id))
            line_id = result.scalar_one()
            row = (await tx.execute(sa.select(wish_lines).where(wish_lines.c.id == line_id))).one()
    except sa.exc.IntegrityError:
        if import_key:
            return None  # this chain line was imported before
        raise
    return line_view(row)


async def _own_line(engine: AsyncEngine, principal: Principal, wid: str, line_id: int) -> sa.Row[Any]:
    """An active line the caller may change: her own, or one of a resident she acts for. Someone
    else's line answers as a missing one does."""
    window = await open_window_for(engine, principal, wid)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(wish_lines).where(
            wish_lines.c.id == line_id, wish_lines.c.window_id == wid, wish_lines.c.status == "active"))).first()
    missing = WishNotFound(f"no active wish {line_id} of yours in this window")
    if row is None:
        raise missing
    if row.resident_id != principal.user_id:
        try:
            await resident_for(engine, principal, row.resident_id, window.community_id)
        except Forbidden as exc:
            raise missing from exc
    return row


async def edit_wish(engine: AsyncEngine, principal: Principal, wid: str, line_id: int, edit: WishEdit) -> WishLine:
    if edit.qty is None and edit.pickup_point_id is None:
        raise BadRequest("give qty and/or pickup_point_id to change")
    row = await _own_line(engine, principal, wid, line_id)
    changes: dict[str, object] = {"updated_at": datetime.now(UTC)}
    if edit.qty is not None:
        changes["qty"] = edit.qty
    if edit.pickup_point_id is not None:
        await pickup_point_in(engine, (await window_row(engine, wid)).community_id, edit.pickup_point_id)
        changes["pickup_point_id"] = edit.pickup_point_id
    async with engine.begin() as conn:
        await conn.execute(wish_lines.update().where(wish_lines.c.id == row.id).values(**changes))
        return line_view((await conn.execute(sa.select(wish_lines).where(wish_lines.c.id == row.id))).one())


async def withdraw_wish(engine: AsyncEngine, principal: Principal, wid: str, line_id: int) -> Withdrawn:
    row = await _own_line(engine, principal, wid, line_id)
    async with engine.begin() as conn:
        await conn.execute(wish_lines.update().where(wish_lines.c.id == row.id)
                           .values(status="withdrawn", updated_at=datetime.now(UTC)))
    return Withdrawn(id=row.id, status="withdrawn")


async def readable_wishes(engine: AsyncEngine, principal: Principal, wid: str,
                          resident_id: str | None) -> list[WishWithOutcome]:
    """The lines of a window the caller may read: her own, or those of a resident she acts for
    (WindowNotFound for no such window, Forbidden for another community's or someone else's)."""
    window = await window_row(engine, wid)
    if not principal.can_act_in(window.community_id):
        raise Forbidden("that wish window belongs to another community")
    resident = resident_id or principal.user_id
    if resident != principal.user_id:
        await resident_for(engine, principal, resident, window.community_id)
    return await wishes_of(engine, wid, resident)


async def wishes_of(engine: AsyncEngine, wid: str, resident_id: str) -> list[WishWithOutcome]:
    """A resident's lines (including ones a grid worker entered for them), with outcomes after the
    cutoff, and each hold's state now."""
    query = (sa.select(wish_lines, wish_outcomes.c.status.label("outcome"), wish_outcomes.c.held_qty,
                       wish_outcomes.c.order_id, wish_outcomes.c.reason, wish_outcomes.c.code,
                       wish_outcomes.c.params.label("outcome_params"), wish_outcomes.c.wished_qty,
                       orders.c.status.label("order_status"))
             .outerjoin(wish_outcomes, wish_outcomes.c.wish_line_id == wish_lines.c.id)
             .outerjoin(orders, orders.c.id == wish_outcomes.c.order_id)
             .where(wish_lines.c.window_id == wid, wish_lines.c.resident_id == resident_id)
             .order_by(wish_lines.c.id))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        release_at = await conn.scalar(sa.select(wish_windows.c.hold_release_at).where(wish_windows.c.id == wid))
    return [WishWithOutcome(**_line_fields(r), outcome=None if r.outcome is None else Outcome(
                status=r.outcome, held_qty=r.held_qty, order_id=r.order_id, reason=r.reason,
                code=r.code or r.outcome, params=json.loads(r.outcome_params or "{}"),
                wished_qty=r.wished_qty or r.qty, hold=_hold_state(r, release_at)))
            for r in rows]


def _hold_state(row: sa.Row[Any], release_at: datetime | None) -> HoldState | None:
    if row.order_id is None or release_at is None:
        return None
    at = int(release_at.timestamp() * 1000)
    # The orders row is written by the outbox worker a moment after the live room acts; until
    # then the hold is as the cutoff placed it.
    if row.order_status == "confirmed":
        return HoldState(status="confirmed", release_at=at)
    if row.order_status == "cancelled":
        # Unconfirmed holds go back at the window's release time; anything earlier was a cancellation.
        why = "not_confirmed" if release_at <= datetime.now(UTC) else "cancelled"
        return HoldState(status="released", release_at=at, why=why)
    return HoldState(status="reserved", release_at=at)
