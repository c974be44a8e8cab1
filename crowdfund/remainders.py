"""The unfilled part of a partly held wish is not dropped.

When units of a window's product are free in the live session (unconfirmed holds went back at
the release time, an order was cancelled, or case rounding left surplus), the wish lines that
were held only in part and whose hold the resident confirmed get them first: in submission
order (the order the capacity rule filled them in), each up to what it wished, as one more hold
that is confirmed at once (she confirmed the wish; this is the rest of it). Only the units left
after that stay on open sale. An unconfirmed hold is not extended: its resident has not said she
still wants the product, and a line that got nothing at the cutoff has no hold to extend.

Safe to run again: each extra hold's request id names the line and what it held before, so a
run that dies before storing the outcome places nothing twice when it runs again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from community.api import NewNotice, notify
from crowdfund.telling import statuses, to_json
from infra.tables import products, wish_lines, wish_outcomes, wish_windows
from stream.api import Live, RoomNotices

log = logging.getLogger(__name__)
FILLED = "remainder_filled"  # the outcome code and notice kind of a line topped up


async def _partly_held(live: Live, wid: str) -> list[Any]:
    """A window's lines held in part, in submission order, with what their notice needs."""
    async with live.engine.connect() as conn:
        return list((await conn.execute(
            sa.select(wish_outcomes.c.wish_line_id, wish_outcomes.c.order_id, wish_outcomes.c.item_id,
                      wish_outcomes.c.held_qty, wish_lines.c.qty, wish_lines.c.resident_id, products.c.name,
                      products.c.unit)
            .join(wish_lines, wish_lines.c.id == wish_outcomes.c.wish_line_id)
            .join(products, products.c.id == wish_lines.c.product_id)
            .where(wish_outcomes.c.window_id == wid, wish_outcomes.c.order_id.is_not(None),
                   wish_outcomes.c.item_id.is_not(None), wish_outcomes.c.held_qty < wish_lines.c.qty)
            .order_by(wish_lines.c.id))).all())


async def fill_remainders(live: Live, wid: str) -> int:
    """Give each product's free units to its confirmed partly held lines first; returns units given."""
    async with live.engine.connect() as conn:
        window = (await conn.execute(sa.select(wish_windows).where(wish_windows.c.id == wid))).first()
    if window is None:
        return 0
    lines = await _partly_held(live, wid)
    if not lines:
        return 0
    sid = window.session_id
    now_status = await statuses(live, sid, {r.resident_id for r in lines})
    stock = await live.inventory.snapshot(sid)
    by_item: dict[str, list[Any]] = defaultdict(list)
    for r in lines:
        if now_status.get(r.order_id) == "confirmed":
            by_item[r.item_id].append(r)
    given = 0
    told: list[NewNotice] = []
    for iid, waiting in sorted(by_item.items()):
        left = stock[iid].left if iid in stock else 0
        for r in waiting:
            if left <= 0:
                break
            more = min(r.qty - r.held_qty, left)
            rid = f"wish-{r.wish_line_id}-more{r.held_qty}"
            hold = await live.inventory.reserve(sid, iid, r.resident_id, more, rid, kind="hold")
            left = hold.left
            if not hold.ok or hold.order_id is None:
                continue
            await live.inventory.confirm_hold(sid, hold.order_id, r.resident_id)
            held = r.held_qty + more
            params = {"held_qty": held, "wished_qty": r.qty, "added_qty": more, "unit": r.unit}
            async with live.engine.begin() as conn:
                await conn.execute(wish_outcomes.update().where(
                    wish_outcomes.c.wish_line_id == r.wish_line_id, wish_outcomes.c.held_qty == r.held_qty,
                ).values(held_qty=held, order_id=hold.order_id, status="held" if held >= r.qty else "partly_held",
                         code=FILLED, params=to_json(params),
                         reason=f"{more}{r.unit} more held from units that came free: {held} of {r.qty}{r.unit}"))
            given += more
            told.append(NewNotice(
                user_id=r.resident_id, community_id=window.community_id, kind=FILLED, link=f"/wishes/{wid}",
                dedupe_key=f"wish:{r.wish_line_id}:{FILLED}:{held}", params={
                    "window_id": wid, "wish_line_id": r.wish_line_id, "session_id": sid, "product": r.name,
                    "order_id": hold.order_id, **params}))
        await live.stock.publish_now(sid, iid)
    await notify(live.engine, told, [RoomNotices(live, sid)])
    if given:
        log.info("window %s: %d units went to partly held wishes first", wid, given)
    return given
