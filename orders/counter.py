"""The pickup counter: what a delivery brings to a point, its arrival, and collecting with a code.

Collecting marks the pickup and its orders collected and credits each order's points and fund
share (``community.api.credit_collection``) in the same transaction. The pickup's row is moved
from waiting/ready to collected by one conditional UPDATE, so of two staff confirming one code at
once exactly one collects, and the other is told it was collected already.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import NewNotice, credit_collection, display_names, notify
from infra.errors import BadRequest, Conflict, NotFound
from infra.tables import communities, orders, pickups, session_items
from infra.types import Id
from orders.pickups import DUE, READY, WAITING, place_orders

CODE = re.compile(r"^[0-9]{6}$")
# What a scanner at the counter reads from a resident's QR: linli:pickup:<point>:<code>.
QR_PREFIX = "linli:pickup:"


class CodeBody(msgspec.Struct, kw_only=True):
    code: Annotated[str, msgspec.Meta(max_length=200, description="6 digits, or a scanned linli:pickup:<point>:<code>")]


class DeliveryBody(msgspec.Struct, kw_only=True):
    session_id: Id


class PickupOrder(msgspec.Struct, kw_only=True):
    id: str
    item_id: str
    title: str
    qty: int
    price_cents: int
    kind: str
    status: str


class PickupView(msgspec.Struct, kw_only=True):
    id: str
    session_id: str
    user_id: str
    name: str  # the resident's display name (王*香): staff say it back
    code: str | None  # while it waits to be collected
    status: str  # waiting, ready, collected, expired, cancelled
    expires_at: int | None = None  # epoch ms
    collected_at: int | None = None
    orders: list[PickupOrder]


class ItemTotal(msgspec.Struct, kw_only=True):
    session_id: str
    item_id: str
    title: str
    qty: int


class Handover(msgspec.Struct, kw_only=True):
    pickup_point_id: str
    session_id: str | None
    items: list[ItemTotal]  # what arrives: each item's total
    pickups: list[PickupView]


class Collected(msgspec.Struct, kw_only=True):
    pickup: PickupView
    orders: list[PickupOrder]
    points: int  # the points credited now
    fund_cents: int  # the fund's share credited now


class Delivered(msgspec.Struct, kw_only=True):
    pickups: int
    orders: int
    expires_at: int | None  # epoch ms


class UnknownCode(NotFound):
    code = "unknown_code"


class AlreadyCollected(Conflict):
    code = "already_collected"


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def read_code(raw: str, point_id: str) -> str:
    """The 6 digits of a typed code or of a scanned payload for this point; BadRequest otherwise."""
    text = raw.strip()
    if text.startswith(QR_PREFIX):
        point, _, text = text[len(QR_PREFIX):].rpartition(":")
        if point != point_id:
            raise BadRequest("this QR code is for another pickup point", code="other_point")
    if not CODE.match(text):
        raise BadRequest("a pickup code is 6 digits", code="bad_code")
    return text


async def _orders_of(conn: Any, pickup_ids: list[str]) -> dict[str, list[PickupOrder]]:
    found: dict[str, list[PickupOrder]] = defaultdict(list)
    for start in range(0, len(pickup_ids), 500):
        rows = await conn.execute(
            sa.select(orders, session_items.c.title)
            .join(session_items, sa.and_(session_items.c.session_id == orders.c.session_id,
                                         session_items.c.id == orders.c.item_id), isouter=True)
            .where(orders.c.pickup_id.in_(pickup_ids[start:start + 500])).order_by(orders.c.reserved_at, orders.c.id))
        for r in rows:
            found[r.pickup_id].append(PickupOrder(id=r.id, item_id=r.item_id, title=r.title or r.item_id, qty=r.qty,
                                                  price_cents=r.price_cents, kind=r.kind, status=r.status))
    return found


async def _views(engine: AsyncEngine, rows: Sequence[Any]) -> list[PickupView]:
    async with engine.connect() as conn:
        contents = await _orders_of(conn, [r.id for r in rows])
    names = await display_names(engine, {r.user_id for r in rows})
    return [PickupView(id=r.id, session_id=r.session_id, user_id=r.user_id, name=names.get(r.user_id, r.user_id),
                       code=r.active_code, status=r.status, expires_at=_ms(r.expires_at),
                       collected_at=_ms(r.collected_at), orders=contents.get(r.id, [])) for r in rows]


async def handover(engine: AsyncEngine, point_id: str, session_id: str | None) -> Handover:
    """What a point hands over: its waiting and ready pickups (of one session when named), each with
    its code, the resident's display name and orders, and each item's total."""
    query = sa.select(pickups).where(pickups.c.pickup_point_id == point_id, pickups.c.status.in_((WAITING, READY)))
    if session_id is not None:
        query = query.where(pickups.c.session_id == session_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(pickups.c.status, pickups.c.created_at, pickups.c.id))).all()
    views = await _views(engine, rows)
    totals: dict[tuple[str, str], ItemTotal] = {}
    for view in views:
        for order in view.orders:
            if order.status in (*DUE, READY):
                key = (view.session_id, order.item_id)
                total = totals.setdefault(key, ItemTotal(session_id=view.session_id, item_id=order.item_id,
                                                         title=order.title, qty=0))
                total.qty += order.qty
    return Handover(pickup_point_id=point_id, session_id=session_id,
                    items=sorted(totals.values(), key=lambda t: (t.session_id, t.title, t.item_id)), pickups=views)


async def deliver(engine: AsyncEngine, community_id: str, point_id: str, point_name: str, session_id: str) -> Delivered:
    """A session's delivery arrived at the point: its waiting pickups and their orders become ready
    until now + the community's pickup days, and each resident is told."""
    await place_orders(engine, session_id=session_id)  # nothing of the session is left unplaced
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        days = int(await conn.scalar(sa.select(communities.c.pickup_days).where(communities.c.id == community_id))
                   or 3)
        expires = now + timedelta(days=days)
        ready = (await conn.execute(sa.select(pickups.c.id, pickups.c.user_id, pickups.c.active_code).where(
            pickups.c.pickup_point_id == point_id, pickups.c.session_id == session_id,
            pickups.c.status == WAITING))).all()
        ids = [r.id for r in ready]
        moved = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            await conn.execute(pickups.update().where(pickups.c.id.in_(chunk), pickups.c.status == WAITING)
                               .values(status=READY, ready_at=now, expires_at=expires))
            result = await conn.execute(orders.update().where(orders.c.pickup_id.in_(chunk), orders.c.status.in_(DUE))
                                        .values(status=READY, updated_at=now))
            moved += int(result.rowcount or 0)
    await notify(engine, [NewNotice(user_id=r.user_id, community_id=community_id, kind="pickup_ready",
                                    params={"point": point_name, "code": r.active_code, "expires_at": _ms(expires)},
                                    link="/orders", dedupe_key=f"pickup_ready:{r.id}") for r in ready])
    return Delivered(pickups=len(ids), orders=moved, expires_at=_ms(expires) if ids else None)


async def collect(engine: AsyncEngine, point_id: str, code: str, staff_id: str) -> Collected:
    """Collect the pickup of ``code`` at the point and credit its orders, once."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(pickups).where(pickups.c.pickup_point_id == point_id,
                                                           pickups.c.active_code == code))).first()
        if row is None:
            earlier = await conn.scalar(sa.select(pickups.c.status).where(
                pickups.c.pickup_point_id == point_id, pickups.c.code == code,
                pickups.c.status.in_(("collected", "expired"))).order_by(pickups.c.created_at.desc()).limit(1))
            if earlier == "collected":
                raise AlreadyCollected("this code was collected already")
            if earlier == "expired":
                raise Conflict("this pickup expired: the community office has it now", code="expired")
            raise UnknownCode("no pickup with this code waits at this point")
        # The one conditional move: a second confirmation of the same code finds nothing to move.
        moved = await conn.execute(pickups.update().where(pickups.c.id == row.id,
                                                          pickups.c.status.in_((WAITING, READY)))
                                   .values(status="collected", active_code=None, collected_at=now,
                                           collected_by=staff_id))
        if not moved.rowcount:
            raise AlreadyCollected("this code was collected already")
        due = (await conn.execute(sa.select(orders).where(orders.c.pickup_id == row.id,
                                                          orders.c.status.in_((*DUE, READY))))).all()
        await conn.execute(orders.update().where(orders.c.id.in_([o.id for o in due]))
                           .values(status="collected", collected_at=now, updated_at=now))
        points = fund = 0
        for order in due:
            got_points, got_fund = await credit_collection(
                conn, community_id=row.community_id, user_id=order.user_id, order_id=order.id,
                amount_cents=order.qty * order.price_cents, session_id=order.session_id)
            points, fund = points + got_points, fund + got_fund
        collected = (await conn.execute(sa.select(pickups).where(pickups.c.id == row.id))).one()
    (view,) = await _views(engine, [collected])
    return Collected(pickup=view, orders=view.orders, points=points, fund_cents=fund)
