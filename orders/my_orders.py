"""A resident's orders as she sees them (with where and how to collect them), changing an order's
pickup point before it is ready, and the expired orders the community office follows up."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import msgspec
import segno
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import record_action
from infra.auth import Principal
from infra.errors import Conflict, NotFound
from infra.tables import orders, pickup_points, pickups, residents, session_items
from infra.types import Id
from orders.counter import QR_PREFIX
from orders.pickups import DUE, WAITING, cancel_emptied, place_orders

MAX_ORDERS = 200


class MyOrder(msgspec.Struct, kw_only=True):
    id: str
    session_id: str
    item_id: str
    qty: int
    price_cents: int
    status: str  # reserved, confirmed, ready, collected, expired, cancelled
    pickup_point_id: str | None
    pickup_code: str | None  # while it waits to be collected
    proxy_by: str | None  # the grid worker who ordered for her
    title: str = ""
    kind: str = "grab"
    pickup_point_name: str | None = None
    pickup_point_address: str | None = None
    pickup_point_hours: str | None = None
    pickup_qr: str | None = None  # what the QR holds: linli:pickup:<point>:<code>
    expires_at: int | None = None  # epoch ms: collect before
    collected_at: int | None = None


class MyOrders(msgspec.Struct, kw_only=True):
    orders: list[MyOrder]  # newest first


class PointChange(msgspec.Struct, kw_only=True):
    pickup_point_id: Id


class ExpiredOrder(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    name: str
    pickup_point_id: str | None
    pickup_code: str | None
    item_id: str
    qty: int
    expired_at: int | None  # epoch ms
    title: str = ""
    session_id: str = ""


class ExpiredOrders(msgspec.Struct, kw_only=True):
    orders: list[ExpiredOrder]


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def qr_payload(point_id: str, code: str) -> str:
    return f"{QR_PREFIX}{point_id}:{code}"


def _joined(*where: Any) -> Any:
    return (sa.select(orders, session_items.c.title, pickups.c.active_code, pickups.c.expires_at,
                      pickup_points.c.name.label("point_name"), pickup_points.c.address, pickup_points.c.hours)
            .join(session_items, sa.and_(session_items.c.session_id == orders.c.session_id,
                                         session_items.c.id == orders.c.item_id), isouter=True)
            .join(pickups, pickups.c.id == orders.c.pickup_id, isouter=True)
            .join(pickup_points, pickup_points.c.id == orders.c.pickup_point_id, isouter=True)
            .where(*where))


def _view(r: Any) -> MyOrder:
    code = r.active_code if r.status in (*DUE, "ready") else None
    return MyOrder(id=r.id, session_id=r.session_id, item_id=r.item_id, qty=r.qty, price_cents=r.price_cents,
                   status=r.status, pickup_point_id=r.pickup_point_id, pickup_code=code, proxy_by=r.proxy_by,
                   title=r.title or r.item_id, kind=r.kind, pickup_point_name=r.point_name,
                   pickup_point_address=r.address, pickup_point_hours=r.hours,
                   pickup_qr=qr_payload(r.pickup_point_id, code) if code and r.pickup_point_id else None,
                   expires_at=_ms(r.expires_at), collected_at=_ms(r.collected_at))


async def my_orders(engine: AsyncEngine, user_id: str) -> MyOrders:
    async with engine.connect() as conn:
        rows = await conn.execute(_joined(orders.c.user_id == user_id)
                                  .order_by(orders.c.reserved_at.desc(), orders.c.id.desc()).limit(MAX_ORDERS))
        return MyOrders(orders=[_view(r) for r in rows])


async def my_order(engine: AsyncEngine, user_id: str, order_id: str) -> MyOrder:
    """One of the resident's orders; someone else's answers as a missing one."""
    async with engine.connect() as conn:
        row = (await conn.execute(_joined(orders.c.id == order_id, orders.c.user_id == user_id))).first()
    if row is None:
        raise NotFound(f"no order {order_id} of yours", code="unknown_order")
    return _view(row)


def qr_svg(payload: str) -> bytes:
    """The payload as a QR code in SVG, big enough to scan from a phone held up at the counter."""
    out = io.BytesIO()
    # A whole SVG document (namespace and all): the page shows it as an image, not inline markup.
    segno.make(payload, error="m").save(out, kind="svg", scale=8, border=2, xmldecl=False, title=payload)
    return out.getvalue()


async def order_owner(engine: AsyncEngine, order_id: str) -> tuple[str, str | None, str | None]:
    """(user, her community, her grid worker) of an order; NotFound when there is none."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(orders.c.user_id, residents.c.community_id, residents.c.grid_worker_id)
                                  .join(residents, residents.c.id == orders.c.user_id, isouter=True)
                                  .where(orders.c.id == order_id))).first()
    if row is None:
        raise NotFound(f"no order {order_id}", code="unknown_order")
    return row.user_id, row.community_id, row.grid_worker_id


async def change_point(engine: AsyncEngine, order_id: str, point_id: str, *, community_id: str,
                       actor: Principal) -> None:
    """Move one order to another point of its community before it is ready: it joins (or opens) the
    pickup of that point, and a pickup it leaves empty is cancelled."""
    async with engine.begin() as conn:
        found = await conn.scalar(sa.select(pickup_points.c.id).where(
            pickup_points.c.id == point_id, pickup_points.c.community_id == community_id))
        if found is None:
            raise NotFound(f"no pickup point {point_id} in this community", code="unknown_pickup_point")
        row = (await conn.execute(sa.select(orders.c.user_id, orders.c.status, orders.c.pickup_point_id,
                                            pickups.c.status.label("pickup_status"))
                                  .join(pickups, pickups.c.id == orders.c.pickup_id, isouter=True)
                                  .where(orders.c.id == order_id))).one()
        if row.status not in DUE or row.pickup_status not in (None, WAITING):
            raise Conflict("this order is at its pickup point already: it can no longer move", code="too_late")
        if row.pickup_point_id == point_id:
            return
        moved = await conn.execute(orders.update().where(orders.c.id == order_id, orders.c.status.in_(DUE))
                                   .values(pickup_point_id=point_id, pickup_id=None, updated_at=datetime.now(UTC)))
        if not moved.rowcount:
            raise Conflict("this order is at its pickup point already: it can no longer move", code="too_late")
        await record_action(conn, resident_id=row.user_id, community_id=community_id, actor=actor,
                            action="pickup_point_changed",
                            detail={"order_id": order_id, "from": row.pickup_point_id, "to": point_id})
    await cancel_emptied(engine)
    await place_orders(engine, order_ids=[order_id])


async def expired_orders(engine: AsyncEngine, community_id: str) -> ExpiredOrders:
    """The community's expired orders, newest expiry first, with each resident's name for the office."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(orders, pickups.c.code, pickups.c.expires_at, residents.c.name, session_items.c.title)
            .join(pickups, pickups.c.id == orders.c.pickup_id)
            .join(residents, residents.c.id == orders.c.user_id, isouter=True)
            .join(session_items, sa.and_(session_items.c.session_id == orders.c.session_id,
                                         session_items.c.id == orders.c.item_id), isouter=True)
            .where(pickups.c.community_id == community_id, orders.c.status == "expired")
            .order_by(pickups.c.expires_at.desc(), orders.c.id).limit(1000))
        return ExpiredOrders(orders=[ExpiredOrder(
            id=r.id, user_id=r.user_id, name=r.name or r.user_id, pickup_point_id=r.pickup_point_id,
            pickup_code=r.code, item_id=r.item_id, qty=r.qty, expired_at=_ms(r.expires_at), title=r.title or "",
            session_id=r.session_id) for r in rows])
