"""At the cutoff: close the window, aggregate the wishes, order from suppliers, hold for wishers.

Crash-safe in three steps. (1) The window moves open -> closed in one conditional UPDATE, so
only one runner ever claims it. (2) The live session's stock and holds are written through
idempotent calls (an item per product is reused, a hold's request id is its wish line).
(3) Supplier orders, outcomes and closed -> aggregated commit in one transaction. A runner that
dies before (3) leaves the window 'closed', and the next run (the scheduler checks at start)
repeats (2) harmlessly and commits (3).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from community.api import deliver, notify, record
from crowdfund.aggregate import (
    Aggregation,
    Catalog,
    OrderedWish,
    Product,
    Tier,
    aggregate_totals,
    binding_products,
)
from crowdfund.remainders import fill_remainders
from crowdfund.telling import (
    PlacedHold,
    hold_notice,
    ms,
    statuses,
    tell_holds_placed,
    tell_holds_released,
    to_json,
    window_holds,
    wish_notices,
)
from infra import metrics
from infra.leader import exclusive, lease_key
from infra.tables import (
    products,
    session_items,
    supplier_order_lines,
    supplier_orders,
    wish_lines,
    wish_outcomes,
    wish_windows,
)
from stream.api import Live, NewItem, RoomNotices, add_item, set_hold_deadline

log = logging.getLogger(__name__)
WINDOW_LEASE_MS = 60_000  # extended every 20 s while the work runs; a crashed holder's lapses in a minute


class CutoffSummary(msgspec.Struct, kw_only=True):
    """What one cutoff did: supplier orders made, wish lines held, products not viable, surplus units."""

    window_id: str
    supplier_orders: int
    held: int
    not_viable: int
    surplus: dict[str, int]  # product id -> units beyond the wishes, sold in the live session
    # Supplier orders whose delivery deadline falls after the live starts: the host was warned when
    # the window was made; the cutoff says it again rather than plan a late delivery silently.
    late_deliveries: dict[str, int] = {}  # supplier order id -> deliver_by, epoch ms


async def aggregate_window(conn: AsyncConnection, wid: str, catalog: Catalog) -> Aggregation:
    """Aggregate a window's active wishes, summing in SQL; only products whose capacity binds
    have their lines read, in submission order, to decide who is filled. Each line stands as
    its own "resident" there, so the shortfall names wish lines."""
    active = sa.and_(wish_lines.c.window_id == wid, wish_lines.c.status == "active",
                     wish_lines.c.product_id.is_not(None))
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    for pid, point, qty in await conn.execute(
            sa.select(wish_lines.c.product_id, wish_lines.c.pickup_point_id, sa.func.sum(wish_lines.c.qty))
            .where(active).group_by(wish_lines.c.product_id, wish_lines.c.pickup_point_id)):
        totals[pid][point] = int(qty)
    ordered: dict[str, list[OrderedWish]] = defaultdict(list)
    binding = binding_products(catalog, totals)
    if binding:
        rows = await conn.execute(sa.select(wish_lines.c.product_id, wish_lines.c.id, wish_lines.c.qty,
                                            wish_lines.c.pickup_point_id)
                                  .where(active, wish_lines.c.product_id.in_(binding))
                                  .order_by(wish_lines.c.product_id, wish_lines.c.id))
        for pid, line_id, qty, point in rows:
            ordered[pid].append((line_id, str(line_id), qty, point))  # the line id is its position
    return aggregate_totals(catalog, totals, ordered)


async def _claim(live: Live, wid: str, now: datetime) -> sa.Row[Any] | None:
    async with live.engine.begin() as conn:
        await conn.execute(wish_windows.update().where(
            wish_windows.c.id == wid, wish_windows.c.status == "open", wish_windows.c.cutoff_at <= now,
        ).values(status="closed", closed_at=now))
        row = (await conn.execute(sa.select(wish_windows).where(wish_windows.c.id == wid))).first()
    return row if row is not None and row.status == "closed" else None


async def _item_for_product(live: Live, sid: str, product: sa.Row[Any], qty: int, price_cents: int) -> str:
    """The live session's item for a product: reused when a previous run already made it."""
    async with live.engine.connect() as conn:
        existing: str | None = await conn.scalar(sa.select(session_items.c.id).where(
            session_items.c.session_id == sid, session_items.c.product_id == product.id))
    if existing:
        return existing
    item = await add_item(live, sid, NewItem(
        title=product.name, price_cents=price_cents, stock=qty, unit=product.unit, product_id=product.id))
    return item.id


@asynccontextmanager
async def _window_work(live: Live, wid: str) -> AsyncIterator[bool]:
    """One window's cutoff or hold release in one process at a time: yields False when another holds it.

    A closed window is cut off again by design (a cutoff that died midway is finished by the next
    sync), so two callers at once (two schedulers, or the scheduler and a host's "close now") would
    both aggregate it. The second waits for nothing: the first finishes, or its lease expires and a
    later sync does."""
    async with exclusive(live.redis, lease_key(f"window:{wid}"), WINDOW_LEASE_MS) as mine:
        yield mine


async def run_cutoff(live: Live, wid: str, now: datetime | None = None) -> CutoffSummary | None:
    """Do the cutoff work for one window if it is due; returns a summary, or None if nothing to do
    (or another process is doing it)."""
    async with _window_work(live, wid) as mine:
        return await _cut_off(live, wid, now) if mine else None


async def _cut_off(live: Live, wid: str, now: datetime | None) -> CutoffSummary | None:
    now = now or datetime.now(UTC)
    window = await _claim(live, wid, now)
    if window is None:
        return None
    started = time.perf_counter()
    async with live.engine.connect() as conn:
        lines = (await conn.execute(sa.select(wish_lines).where(
            wish_lines.c.window_id == wid, wish_lines.c.status == "active").order_by(wish_lines.c.id))).all()
        wanted = {line.product_id for line in lines if line.product_id}
        catalog_rows = {p.id: p for p in await conn.execute(sa.select(products).where(products.c.id.in_(wanted)))}
        catalog = Catalog(products=[
            Product(id=p.id, name=p.name, supplier_id=p.supplier_id, unit=p.unit, case_size=p.case_size, moq=p.moq,
                    capacity=p.capacity, tiers=[Tier(**t) for t in json.loads(p.tiers)])
            for p in catalog_rows.values()])
        result = await aggregate_window(conn, wid, catalog)

    short: defaultdict[int, int] = defaultdict(int)
    for s in result.shortfall:
        short[int(s.resident_id)] += s.qty
    ordered = {ln.product_id: ln for order in result.supplier_orders for ln in order.lines}
    not_viable = {nv.product_id: nv for nv in result.not_viable}

    outcomes: list[dict[str, object]] = []
    holds: list[PlacedHold] = []
    for line in lines:
        # The status is also the reason's code; params are what a page needs to say it in its language.
        base = {"wish_line_id": line.id, "window_id": wid, "held_qty": 0, "order_id": None, "item_id": None,
                "wished_qty": line.qty, "params": "{}"}
        if not line.product_id:
            outcomes.append({**base, "status": "not_in_catalog", "code": "not_in_catalog",
                             "reason": "not in the catalog yet; counted as a demand signal for the organizers"})
        elif line.product_id in not_viable:
            nv = not_viable[line.product_id]
            unit = catalog_rows[line.product_id].unit
            params = {"wished_qty": nv.wished_qty, "moq": nv.moq, "missing_qty": max(0, nv.moq - nv.wished_qty),
                      "unit": unit}
            outcomes.append({**base, "status": "not_viable", "code": "not_viable", "params": to_json(params), "reason":
                             f"only {nv.wished_qty}{unit} wished in all; the supplier needs at least {nv.moq}{unit}"})
        else:
            filled = line.qty - short.get(line.id, 0)
            p = catalog_rows[line.product_id]
            if filled <= 0:
                outcomes.append({**base, "status": "shortfall", "code": "shortfall",
                                 "params": to_json({"capacity": p.capacity, "unit": p.unit}),
                                 "reason": f"the supplier can only deliver {p.capacity}{p.unit}"})
                continue
            ln = ordered[line.product_id]
            iid = await _item_for_product(live, window.session_id, p, ln.order_qty, ln.unit_price_cents)
            hold = await live.inventory.reserve(window.session_id, iid, line.resident_id, filled,
                                                f"wish-{line.id}", kind="hold")
            if hold.order_id:
                holds.append(PlacedHold(user_id=line.resident_id, order_id=hold.order_id, item_id=iid, qty=filled,
                                        price_cents=ln.unit_price_cents))
            partly = filled < line.qty
            status = "partly_held" if partly else "held"
            params = {"held_qty": filled, "wished_qty": line.qty, "unit": p.unit} if partly else {
                "held_qty": filled, "unit": p.unit}
            reason = f"{filled} of {line.qty}{p.unit} held: the supplier's capacity ran out" if partly else ""
            outcomes.append({**base, "status": status, "code": status, "params": to_json(params), "held_qty": filled,
                             "order_id": hold.order_id, "item_id": iid, "reason": reason})
    # Surplus products nobody holds stay as flash stock: the item was loaded with order_qty. The
    # item_added event went out before the holds were taken, so viewers get the stock left now.
    for iid in sorted({h.item_id for h in holds}):
        await live.stock.publish_now(window.session_id, iid)
    if holds:
        await set_hold_deadline(live, window.session_id, ms(window.hold_release_at))
    told = wish_notices(window, lines, outcomes, catalog_rows)

    late: dict[str, int] = {}
    async with live.engine.begin() as conn:
        for order in result.supplier_orders:
            lead = max(catalog_rows[ln.product_id].lead_time_hours for ln in order.lines)
            oid = f"{wid}-{order.supplier_id}"
            deliver_by = window.cutoff_at + timedelta(hours=lead)
            if deliver_by > window.live_at:
                late[oid] = ms(deliver_by)
            await conn.execute(supplier_orders.insert().values(
                id=oid, window_id=wid, supplier_id=order.supplier_id, status="pending",
                deliver_by=deliver_by, created_at=now))
            await conn.execute(supplier_order_lines.insert(), [
                {"order_id": oid, "product_id": ln.product_id, "wished_qty": ln.wished_qty, "order_qty": ln.order_qty,
                 "unit_price_cents": ln.unit_price_cents, "total_cents": ln.total_cents,
                 "by_pickup_point": json.dumps(ln.by_pickup_point, sort_keys=True)} for ln in order.lines])
        if outcomes:
            await conn.execute(wish_outcomes.insert(), outcomes)
        # Stored with the outcomes they tell of, so a cutoff that dies before here tells nobody
        # yet, and its rerun tells everyone once.
        channels = [RoomNotices(live, window.session_id)]
        stored = await record(conn, told, channels)
        await conn.execute(wish_windows.update().where(wish_windows.c.id == wid, wish_windows.c.status == "closed")
                           .values(status="aggregated"))
    await tell_holds_placed(live, window, holds)
    await deliver(stored, channels)
    summary = CutoffSummary(window_id=wid, supplier_orders=len(result.supplier_orders), held=sum(
        1 for o in outcomes if o["status"] in ("held", "partly_held")), not_viable=len(result.not_viable),
        surplus={s.product_id: s.qty for s in result.surplus}, late_deliveries=late)
    if late:
        log.warning("window %s: supplier orders due after the live starts: %s", wid, late)
    metrics.cutoff_took(time.perf_counter() - started)
    log.info("cutoff done: %s", summary)
    return summary


async def release_unconfirmed_holds(live: Live, wid: str, now: datetime | None = None) -> int:
    """At hold_release_at, unconfirmed holds go back to the flash pool, and their residents are
    told; returns how many went back (0 while another process is releasing them)."""
    async with _window_work(live, wid) as mine:
        return await _release_holds(live, wid, now) if mine else 0


async def _release_holds(live: Live, wid: str, now: datetime | None) -> int:
    now = now or datetime.now(UTC)
    async with live.engine.connect() as conn:
        window = (await conn.execute(sa.select(wish_windows).where(
            wish_windows.c.id == wid, wish_windows.c.status == "aggregated",
            wish_windows.c.hold_release_at <= now))).first()
        if window is None:
            return 0
        held = await window_holds(conn, wid)
    sid = window.session_id
    released = 0
    for hold in held:
        if await live.inventory.release(sid, hold.order_id, why="hold_expired") is not None:
            released += 1
    # Units that just came free go to confirmed, partly held wishes before the open sale sees them.
    await fill_remainders(live, wid)
    for iid in sorted({hold.item_id for hold in held}):
        await live.stock.publish_now(sid, iid)
    # Told from Redis's word on each hold, not from this run's count, so a rerun after a crash
    # also tells those an earlier run released (each notice is stored once).
    now_status = await statuses(live, sid, {hold.resident_id for hold in held})
    gone = [hold for hold in held if now_status.get(hold.order_id) == "released"]
    await tell_holds_released(live, gone)
    await notify(live.engine, [hold_notice("hold_released", hold, f"/wishes/{wid}", reason="not_confirmed")
                               for hold in gone], [RoomNotices(live, sid)])
    async with live.engine.begin() as conn:
        await conn.execute(wish_windows.update().where(wish_windows.c.id == wid, wish_windows.c.status == "aggregated")
                           .values(status="released"))
    return released
