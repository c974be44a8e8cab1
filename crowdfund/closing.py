"""Closing a window now: the host's early cutoff, safe to ask twice.

The first call moves the cutoff to now and runs the cutoff work; any later call (or one that
raced it) answers the same summary, read back from what that cutoff stored.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.cutoff import CutoffSummary, run_cutoff
from crowdfund.telling import ms
from crowdfund.windows import window_row
from infra.auth import Principal
from infra.errors import Conflict, Forbidden
from infra.tables import supplier_order_lines, supplier_orders, wish_lines, wish_outcomes, wish_windows
from stream.api import Live

log = logging.getLogger(__name__)


class Closed(CutoffSummary, kw_only=True):
    """The cutoff's summary, and whether this call closed the window or found it closed."""

    status: str  # aggregated, or released once the holds went back
    already_closed: bool


async def stored_summary(engine: AsyncEngine, wid: str) -> CutoffSummary:
    """What a window's cutoff did, read from its supplier orders and outcomes."""
    async with engine.connect() as conn:
        orders = int(await conn.scalar(sa.select(sa.func.count()).select_from(supplier_orders)
                                       .where(supplier_orders.c.window_id == wid)) or 0)
        held = int(await conn.scalar(sa.select(sa.func.count()).select_from(wish_outcomes).where(
            wish_outcomes.c.window_id == wid, wish_outcomes.c.order_id.is_not(None))) or 0)  # lines given a hold
        not_viable = int(await conn.scalar(
            sa.select(sa.func.count(sa.distinct(wish_lines.c.product_id)))
            .select_from(wish_outcomes.join(wish_lines, wish_lines.c.id == wish_outcomes.c.wish_line_id))
            .where(wish_outcomes.c.window_id == wid, wish_outcomes.c.status == "not_viable")) or 0)
        lines = (await conn.execute(
            sa.select(supplier_order_lines.c.product_id, supplier_order_lines.c.order_qty,
                      supplier_order_lines.c.by_pickup_point)
            .join(supplier_orders, supplier_orders.c.id == supplier_order_lines.c.order_id)
            .where(supplier_orders.c.window_id == wid))).all()
        late = {r.id: ms(r.deliver_by) for r in await conn.execute(
            sa.select(supplier_orders.c.id, supplier_orders.c.deliver_by)
            .join(wish_windows, wish_windows.c.id == supplier_orders.c.window_id)
            .where(supplier_orders.c.window_id == wid, supplier_orders.c.deliver_by > wish_windows.c.live_at))}
    surplus = {ln.product_id: ln.order_qty - sum(json.loads(ln.by_pickup_point).values()) for ln in lines}
    return CutoffSummary(window_id=wid, supplier_orders=orders, held=held, not_viable=not_viable,
                         surplus={pid: qty for pid, qty in sorted(surplus.items()) if qty > 0}, late_deliveries=late)


async def close_now(live: Live, principal: Principal, wid: str) -> Closed:
    """Close a window of the caller's community now and run its cutoff; asking again answers the same."""
    row = await window_row(live.engine, wid)
    if not principal.can_act_in(row.community_id):
        raise Forbidden("that wish window belongs to another community")
    ran = False
    if row.status in ("open", "closed"):  # closed: a cutoff that stopped half-way, which this run finishes
        now = datetime.now(UTC)
        async with live.engine.begin() as conn:
            await conn.execute(wish_windows.update().where(
                wish_windows.c.id == wid, wish_windows.c.status == "open", wish_windows.c.cutoff_at > now,
            ).values(cutoff_at=now))
        try:
            ran = await run_cutoff(live, wid, now) is not None
        except sa.exc.IntegrityError:
            # Another runner (the scheduler, a second click) stored the same cutoff first.
            log.info("window %s: the cutoff was stored by another runner", wid)
        row = await window_row(live.engine, wid)
    if row.status in ("open", "closed"):
        raise Conflict("the cutoff of this window is running; ask again in a moment", code="cutoff_running")
    summary = await stored_summary(live.engine, wid)
    return Closed(window_id=wid, supplier_orders=summary.supplier_orders, held=summary.held,
                  not_viable=summary.not_viable, surplus=summary.surplus, late_deliveries=summary.late_deliveries,
                  status=row.status, already_closed=not ran)
