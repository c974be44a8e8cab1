"""Orders become pickups: every order due for collection goes to a pickup point, in one pickup per
(resident, session, point) with a 6-digit code.

Placement is a job (every few seconds, and at a delivery) that any number of processes may run at
once: a pickup's id is derived from what it collects (session, resident, point and how many pickups
that triple had before), so two placers insert the same row and one of the inserts does nothing;
an order is attached only while it has no pickup. A code is random and unique among the point's
uncollected pickups (``active_code`` and its unique constraint): a collision rolls the attempt
back and it runs again with a new code. ``active_code`` is cleared when a pickup is collected,
expires or is cancelled, so codes come back into use.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from community.api import default_points
from crowdfund.api import hold_pickup_points
from infra.tables import live_sessions, orders, pickups

log = logging.getLogger(__name__)

DUE = ("reserved", "confirmed")  # order statuses that still await collection
KINDS = ("grab", "hold", "prize")
WAITING, READY = "waiting", "ready"
ATTEMPTS = 20
BATCH = 1000


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def pickup_id(session_id: str, user_id: str, point_id: str, seq: int) -> str:
    digest = hashlib.sha256(f"{session_id}\n{user_id}\n{point_id}\n{seq}".encode()).hexdigest()
    return f"pk-{digest[:24]}"


def _insert(conn: AsyncConnection) -> Any:
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert


async def _attach(conn: AsyncConnection, community_id: str, session_id: str, user_id: str, point_id: str,
                  order_ids: list[str], now: datetime) -> str | None:
    """Put the orders into the triple's waiting pickup, made now if there is none; None when the
    pickup turned out not to be waiting (delivered meanwhile): the caller tries again."""
    triple = (pickups.c.session_id == session_id, pickups.c.user_id == user_id, pickups.c.pickup_point_id == point_id)
    waiting = await conn.scalar(sa.select(pickups.c.id).where(*triple, pickups.c.status == WAITING))
    made = False
    if waiting is None:
        # Counting only the triple's pickups that no longer wait, two placers name the same new
        # pickup even when one of them commits it between the other's two reads.
        seq = int(await conn.scalar(sa.select(sa.func.count()).select_from(pickups)
                                    .where(*triple, pickups.c.status != WAITING)) or 0)
        waiting = pickup_id(session_id, user_id, point_id, seq)
        code = new_code()
        # A code another waiting pickup of this point holds fails the unique constraint: the
        # transaction rolls back and the caller runs it again with a fresh code.
        result = await conn.execute(_insert(conn)(pickups).values(
            id=waiting, community_id=community_id, session_id=session_id, user_id=user_id, pickup_point_id=point_id,
            code=code, active_code=code, status=WAITING, created_at=now).on_conflict_do_nothing(index_elements=["id"]))
        made = bool(result.rowcount)
        status = await conn.scalar(sa.select(pickups.c.status).where(pickups.c.id == waiting))
        if status != WAITING:
            return None
    attached = await conn.execute(orders.update().where(orders.c.id.in_(order_ids), orders.c.pickup_id.is_(None),
                                                        orders.c.status.in_(DUE))
                                  .values(pickup_id=waiting, pickup_point_id=point_id))
    if made and not attached.rowcount:
        # Another placer took these orders meanwhile: a pickup of none is not kept.
        await conn.execute(pickups.delete().where(pickups.c.id == waiting))
    return waiting


async def place_in_pickup(engine: AsyncEngine, community_id: str, session_id: str, user_id: str, point_id: str,
                          order_ids: list[str]) -> str | None:
    """Attach orders to their pickup in one transaction, retrying on a code collision."""
    for _ in range(ATTEMPTS):
        try:
            async with engine.begin() as conn:
                placed = await _attach(conn, community_id, session_id, user_id, point_id, order_ids,
                                       datetime.now(UTC))
            if placed is not None:
                return placed
        except sa.exc.IntegrityError:
            continue
    log.warning("no free pickup code for %s at %s after %d tries", user_id, point_id, ATTEMPTS)
    return None


async def cancel_emptied(engine: AsyncEngine) -> int:
    """Cancelled orders leave their pickup, and a waiting pickup left with no order is cancelled."""
    async with engine.begin() as conn:
        await conn.execute(orders.update().where(orders.c.status == "cancelled", orders.c.pickup_id.is_not(None))
                           .values(pickup_id=None))
        has_orders = sa.select(orders.c.id).where(orders.c.pickup_id == pickups.c.id).exists()
        result = await conn.execute(pickups.update().where(pickups.c.status == WAITING, ~has_orders)
                                    .values(status="cancelled", active_code=None))
        return int(result.rowcount or 0)


async def place_orders(engine: AsyncEngine, *, session_id: str | None = None,
                       order_ids: Collection[str] | None = None) -> int:
    """Place every order due for collection that has no pickup yet (only a session's, or only the
    given orders, when named); returns how many were placed. Idempotent and safe to run concurrently."""
    await cancel_emptied(engine)
    placed = 0
    while True:
        query = (sa.select(orders.c.id, orders.c.session_id, orders.c.user_id, orders.c.kind, orders.c.pickup_point_id,
                           live_sessions.c.community_id)
                 .join(live_sessions, live_sessions.c.id == orders.c.session_id)
                 .where(orders.c.pickup_id.is_(None), orders.c.status.in_(DUE), orders.c.kind.in_(KINDS))
                 .order_by(orders.c.id).limit(BATCH))
        if session_id is not None:
            query = query.where(orders.c.session_id == session_id)
        if order_ids is not None:
            query = query.where(orders.c.id.in_(sorted(order_ids)))
        async with engine.connect() as conn:
            due = (await conn.execute(query)).all()
            defaults = await default_points(conn, {o.user_id for o in due if o.kind != "hold"})
        if not due:
            return placed
        holds = await hold_pickup_points(engine, [o.id for o in due if o.kind == "hold" and not o.pickup_point_id])
        groups: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
        for order in due:
            # A point the resident chose for this order first, then a hold's wish line, then her default.
            point = order.pickup_point_id or holds.get(order.id) or defaults.get(order.user_id)
            if point is None:
                if order.kind == "hold":  # a hold with no wish line (made by hand): her default point
                    point = (await _defaults(engine, order.user_id)).get(order.user_id)
                if point is None:
                    continue  # her community has no pickup point yet
            groups[(order.community_id, order.session_id, order.user_id, point)].append(order.id)
        before = placed
        for (community_id, sid, user_id, point), ids in sorted(groups.items()):
            if await place_in_pickup(engine, community_id, sid, user_id, point, ids) is not None:
                placed += len(ids)
        if len(due) < BATCH or placed == before:
            return placed


async def _defaults(engine: AsyncEngine, user_id: str) -> dict[str, str]:
    async with engine.connect() as conn:
        return await default_points(conn, [user_id])


async def expire_due(engine: AsyncEngine, now: datetime | None = None) -> int:
    """Ready pickups past their time expire, with their orders; their codes come free. Returns how many."""
    now = now or datetime.now(UTC)
    async with engine.begin() as conn:
        due = [r.id for r in await conn.execute(sa.select(pickups.c.id).where(
            pickups.c.status == READY, pickups.c.expires_at <= now))]
        for start in range(0, len(due), 500):
            chunk = due[start:start + 500]
            await conn.execute(pickups.update().where(pickups.c.id.in_(chunk), pickups.c.status == READY)
                               .values(status="expired", active_code=None))
            await conn.execute(orders.update().where(orders.c.pickup_id.in_(chunk), orders.c.status == READY)
                               .values(status="expired", updated_at=now))
    return len(due)
