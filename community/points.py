"""A resident's neighbourhood points: her statement, and the awards grid workers give volunteers.

Entries arrive from several places (a collected order, a lucky bag, a red packet, an award, a
redemption), all through ``accounts.post_points``; this module reads them back and awards."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncEngine

from community.accounts import points_balance, post_points
from community.audit import record_action
from infra.auth import Principal
from infra.errors import BadRequest, Conflict, Forbidden, NotFound
from infra.tables import points_ledger, residents
from infra.types import Id

MAX_PAGE = 100


class PointsEntry(msgspec.Struct, kw_only=True):
    id: str
    delta: int  # negative for a redemption
    reason: str  # collected, lucky_bag, red_packet, volunteer, redeemed
    ref: str | None  # what it is for: an order, a bag, a reward
    note: str  # a volunteer award's reason, a reward's title
    at: int  # epoch ms


class PointsStatement(msgspec.Struct, kw_only=True):
    balance: int  # all entries, not only this page's
    entries: list[PointsEntry]  # newest first
    more: bool  # older entries follow: ask again with before=<the last id>


class Award(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    resident_id: Id
    points: Annotated[int, Meta(ge=1, le=1000)]
    reason: Annotated[str, Meta(min_length=1, max_length=100, description="what she did, in plain words")]
    request_id: Annotated[Id, Meta(description="one id per award: a retry with it adds nothing")]


class Awarded(msgspec.Struct, kw_only=True):
    entry_id: str
    resident_id: str
    points: int
    balance: int
    replayed: bool  # true when this request id had awarded already


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def statement(engine: AsyncEngine, user_id: str, *, limit: int = 50, before: str | None = None
                    ) -> PointsStatement:
    """The balance and the newest entries (``before``: older than that entry of hers)."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be 1-{MAX_PAGE}")
    order = (points_ledger.c.created_at.desc(), points_ledger.c.id.desc())
    query = sa.select(points_ledger).where(points_ledger.c.user_id == user_id)
    async with engine.connect() as conn:
        if before is not None:
            at = await conn.scalar(sa.select(points_ledger.c.created_at).where(
                points_ledger.c.id == before, points_ledger.c.user_id == user_id))
            if at is None:
                raise NotFound(f"no entry {before} of yours", code="unknown_entry")
            query = query.where(sa.or_(points_ledger.c.created_at < at,
                                       sa.and_(points_ledger.c.created_at == at, points_ledger.c.id < before)))
        rows = (await conn.execute(query.order_by(*order).limit(limit + 1))).all()
        balance = await points_balance(conn, user_id)
    entries = [PointsEntry(id=r.id, delta=r.points, reason=r.reason, ref=r.ref, note=r.note, at=_ms(r.created_at))
               for r in rows[:limit]]
    return PointsStatement(balance=balance, entries=entries, more=len(rows) > limit)


async def award(engine: AsyncEngine, principal: Principal, community_id: str, body: Award) -> Awarded:
    """Award a volunteer: a grid worker to a resident of her own grid, a host or admin to anyone of the
    community. Recorded in the ledger (reason ``volunteer``) and in the resident's audit log, once
    per request id."""
    if not body.reason.strip():
        raise BadRequest("say what the award is for")
    entry_id = f"award:{principal.user_id}:{body.request_id}"
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(residents.c.community_id, residents.c.grid_worker_id)
                                  .where(residents.c.id == body.resident_id))).first()
        # One answer for "no such resident" and "not yours", as for wishes: another would tell a grid
        # token which ids are registered where.
        if row is None or row.community_id != community_id or (
                principal.role == "grid" and row.grid_worker_id != principal.user_id):
            where = "your grid" if principal.role == "grid" else "this community"
            raise Forbidden(f"no resident {body.resident_id} in {where}", code="not_your_resident")
        posted = await post_points(conn, entry_id=entry_id, user_id=body.resident_id, points=body.points,
                                   reason="volunteer", community_id=community_id, ref=body.request_id,
                                   note=body.reason.strip(), actor_id=principal.user_id)
        if posted:
            await record_action(conn, resident_id=body.resident_id, community_id=community_id, actor=principal,
                                action="points_awarded",
                                detail={"points": body.points, "reason": body.reason.strip(), "entry": entry_id})
        else:
            first = (await conn.execute(sa.select(points_ledger.c.user_id, points_ledger.c.points)
                                        .where(points_ledger.c.id == entry_id))).one()
            if (first.user_id, first.points) != (body.resident_id, body.points):
                raise Conflict("that request id was used for another award", code="request_id_reused")
        balance = await points_balance(conn, body.resident_id)
    return Awarded(entry_id=entry_id, resident_id=body.resident_id, points=body.points, balance=balance,
                   replayed=not posted)
