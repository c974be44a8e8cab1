"""A supplier confirms an order, perhaps with fewer units than ordered on some lines.

The units it will not deliver come out of the live session's item, fairly:

1. first the surplus (the units case rounding ordered beyond the wishes, which nobody holds);
2. then the holds, the latest-submitted wish line first, as the capacity rule fills them: a hold
   shrinks (released, and a smaller hold placed with its own request id) or goes. A hold the
   resident has already confirmed is kept: the cut passes on to the next unconfirmed one.

A confirmation that would need more units than are unreserved or held unconfirmed is refused
(409 ``below_committed``), so no resident loses a confirmed hold and no sale is undone.

Crash-safe like the cutoff: (1) one transaction moves the order pending -> confirming and stores
the plan (``confirmed_qty`` on its lines, each cut hold's new quantity on its outcome, with the
old order id in the outcome's params); (2) the stock and holds change through idempotent calls
(the withdrawal and the smaller hold have request ids made of the order and the line);
(3) one transaction swaps in the new hold ids and moves the order to confirmed. Confirming an
order left 'confirming' repeats (2) harmlessly and finishes (3). Each resident whose hold shrank
gets a notice once (``supplier_short``), and her live room gets ``hold_released`` and ``hold_placed``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncConnection

from community.api import NewNotice, notify
from crowdfund.telling import PlacedHold, statuses, tell_holds_placed, to_json
from infra.errors import BadRequest, Conflict, NotFound
from infra.tables import (
    products,
    session_items,
    supplier_order_lines,
    supplier_orders,
    wish_lines,
    wish_outcomes,
    wish_windows,
)
from infra.types import MAX_SQL_INT, Id
from stream.api import HoldReleased, Live, RoomNotices, send_personal

log = logging.getLogger(__name__)
CUT = "supplier_short"  # the outcome code and notice kind of a hold the supplier's shortfall cut


class LineConfirm(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    product_id: Id
    confirmed_qty: Annotated[int, Meta(ge=0, le=MAX_SQL_INT,
                                       description="units the supplier will deliver, at most order_qty")]


class ConfirmOrder(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Lines the supplier can deliver only in part; every other line is confirmed in full."""

    lines: Annotated[list[LineConfirm], Meta(max_length=500)] = []


class LineShortfall(msgspec.Struct, kw_only=True):
    product_id: str
    order_qty: int
    confirmed_qty: int
    from_surplus: int  # units the live sale loses
    from_holds: int  # units taken from residents' unconfirmed holds
    holds_cut: int  # wish lines whose hold shrank or went
    uncovered: int  # sold or confirmed meanwhile, so not taken back: the host settles these by hand


@dataclass(frozen=True, slots=True)
class Cut:
    line_id: int
    resident_id: str
    pickup_point_id: str
    old_order: str
    held_before: int
    held_qty: int
    before: dict[str, str]  # the outcome's status, code and params before the cut, to restore if it cannot be


async def _order(conn: AsyncConnection, supplier_id: str, order_id: str) -> sa.Row[Any]:
    head = (await conn.execute(sa.select(supplier_orders).where(
        supplier_orders.c.id == order_id, supplier_orders.c.supplier_id == supplier_id))).first()
    if head is None:
        raise NotFound(f"no order {order_id} for you", code="unknown_order")
    return head


async def _context(live: Live, head: sa.Row[Any]) -> tuple[sa.Row[Any], dict[str, str], dict[str, sa.Row[Any]]]:
    """The order's window, its session's item per product, and the order's lines by product."""
    async with live.engine.connect() as conn:
        window = (await conn.execute(sa.select(wish_windows).where(wish_windows.c.id == head.window_id))).one()
        items = {r.product_id: r.id for r in await conn.execute(
            sa.select(session_items.c.id, session_items.c.product_id)
            .where(session_items.c.session_id == window.session_id))}
        lines = {r.product_id: r for r in await conn.execute(
            sa.select(supplier_order_lines, products.c.name, products.c.unit)
            .join(products, products.c.id == supplier_order_lines.c.product_id)
            .where(supplier_order_lines.c.order_id == head.id))}
    return window, items, lines


async def _holds(live: Live, window: sa.Row[Any], product_id: str) -> list[Any]:  # rows
    """The product's holds in the window, latest-submitted line first."""
    async with live.engine.connect() as conn:
        return list((await conn.execute(
            sa.select(wish_outcomes.c.wish_line_id, wish_outcomes.c.order_id, wish_outcomes.c.held_qty,
                      wish_outcomes.c.status, wish_outcomes.c.code, wish_outcomes.c.params,
                      wish_lines.c.resident_id, wish_lines.c.pickup_point_id, wish_lines.c.qty)
            .join(wish_lines, wish_lines.c.id == wish_outcomes.c.wish_line_id)
            .where(wish_outcomes.c.window_id == window.id, wish_lines.c.product_id == product_id,
                   wish_outcomes.c.order_id.is_not(None))
            .order_by(wish_lines.c.id.desc()))).all())


async def _plan(live: Live, window: sa.Row[Any], iid: str | None, line: sa.Row[Any], confirmed: int) -> list[Cut]:
    """Which holds lose how much; Conflict when the cut needs confirmed or sold units."""
    short = line.order_qty - confirmed
    holds = await _holds(live, window, line.product_id)
    if iid is None or not holds:
        return []  # nothing was put on sale for it: the order alone shrinks
    left = (await live.inventory.snapshot(window.session_id))[iid].left
    now_status = await statuses(live, window.session_id, {h.resident_id for h in holds})
    open_holds = [h for h in holds if now_status.get(h.order_id) == "reserved"]
    rest = short - min(short, left)
    if rest > sum(h.held_qty for h in open_holds):
        least = line.order_qty - left - sum(h.held_qty for h in open_holds)
        raise Conflict(f"residents have confirmed or bought {least}{line.unit} of {line.name} already; "
                       f"confirm at least {least}{line.unit}", code="below_committed")
    cuts = []
    for h in open_holds:
        if rest <= 0:
            break
        take = min(rest, h.held_qty)
        rest -= take
        cuts.append(Cut(line_id=h.wish_line_id, resident_id=h.resident_id, pickup_point_id=h.pickup_point_id,
                        old_order=h.order_id, held_before=h.held_qty, held_qty=h.held_qty - take,
                        before={"status": h.status, "code": h.code, "params": h.params}))
    return cuts


def _checked(body: ConfirmOrder, lines: dict[str, sa.Row[Any]]) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for ln in body.lines:
        if ln.product_id not in lines:
            raise BadRequest(f"the order has no line for {ln.product_id}", code="unknown_product")
        if ln.product_id in wanted:
            raise BadRequest(f"{ln.product_id} is named twice")
        if ln.confirmed_qty > lines[ln.product_id].order_qty:
            raise BadRequest(f"{ln.product_id}: confirm at most the {lines[ln.product_id].order_qty} ordered")
        wanted[ln.product_id] = ln.confirmed_qty
    return {pid: qty for pid, qty in wanted.items() if qty < lines[pid].order_qty}


async def _store_plan(live: Live, head: sa.Row[Any], lines: dict[str, sa.Row[Any]], short: dict[str, int],
                      cuts: dict[str, list[Cut]], unit_of: dict[str, str]) -> bool:
    """Step (1): claim the order and store the plan; False when another confirmation claimed it first."""
    async with live.engine.begin() as conn:
        claimed = await conn.execute(supplier_orders.update().where(
            supplier_orders.c.id == head.id, supplier_orders.c.status == "pending").values(status="confirming"))
        if claimed.rowcount != 1:
            return False
        for pid, confirmed in short.items():
            split = json.loads(lines[pid].by_pickup_point)
            for c in cuts.get(pid, []):
                split[c.pickup_point_id] -= c.held_before - c.held_qty
            await conn.execute(supplier_order_lines.update().where(
                supplier_order_lines.c.order_id == head.id, supplier_order_lines.c.product_id == pid,
            ).values(confirmed_qty=confirmed, by_pickup_point=json.dumps(
                {p: q for p, q in split.items() if q > 0}, sort_keys=True)))
            for c in cuts.get(pid, []):
                await conn.execute(wish_outcomes.update().where(
                    wish_outcomes.c.wish_line_id == c.line_id, wish_outcomes.c.order_id == c.old_order,
                ).values(held_qty=c.held_qty, status="partly_held" if c.held_qty else "shortfall", code=CUT,
                         params=to_json({"held_before": c.held_before, "held_qty": c.held_qty, "unit": unit_of[pid],
                                         "from_order": c.old_order, "supplier_order_id": head.id,
                                         "before": c.before}),
                         reason=f"the supplier delivers fewer: {c.held_qty} of {c.held_before}{unit_of[pid]} "
                                "still held"))
    return True


async def _planned(live: Live, window: sa.Row[Any], head: sa.Row[Any], product_id: str) -> list[Cut]:
    """The stored plan's cuts still to carry out (their outcome still names the old hold)."""
    cuts = []
    for h in await _holds(live, window, product_id):
        params = json.loads(h.params or "{}")
        if h.code == CUT and params.get("supplier_order_id") == head.id and params.get("from_order") == h.order_id:
            cuts.append(Cut(line_id=h.wish_line_id, resident_id=h.resident_id, pickup_point_id=h.pickup_point_id,
                            old_order=h.order_id, held_before=params["held_before"], held_qty=h.held_qty,
                            before=params["before"]))
    return cuts


async def _carry_out(live: Live, window: sa.Row[Any], head: sa.Row[Any], items: dict[str, str],
                     lines: dict[str, sa.Row[Any]]) -> list[LineShortfall]:
    """Steps (2) and (3), from what step (1) stored; safe to repeat."""
    sid = window.session_id
    report: list[LineShortfall] = []
    swaps: dict[int, dict[str, Any]] = {}  # wish line -> its outcome's new values
    placed: list[PlacedHold] = []
    released: list[tuple[Cut, str]] = []
    told: list[NewNotice] = []
    for pid, line in sorted(lines.items()):
        if line.confirmed_qty is None or line.confirmed_qty >= line.order_qty:
            continue
        iid = items.get(pid)
        cuts = await _planned(live, window, head, pid) if iid else []
        from_holds = sum(c.held_before - c.held_qty for c in cuts)
        from_surplus = line.order_qty - line.confirmed_qty - from_holds
        uncovered = 0
        if iid is None:
            report.append(LineShortfall(product_id=pid, order_qty=line.order_qty, confirmed_qty=line.confirmed_qty,
                                        from_surplus=0, from_holds=0, holds_cut=0, uncovered=0))
            continue
        if from_surplus > 0:
            taken, _ = await live.inventory.withdraw_stock(sid, iid, from_surplus, f"short-{head.id}-{pid}"[-64:])
            uncovered += from_surplus - taken
        for c in cuts:
            new_order = None
            if await live.inventory.release(sid, c.old_order, why=CUT) is None:
                now_status = await statuses(live, sid, {c.resident_id})
                if now_status.get(c.old_order) == "confirmed":  # confirmed since the plan: it stays whole
                    uncovered += c.held_before - c.held_qty
                    swaps[c.line_id] = {"held_qty": c.held_before, **c.before}
                    continue
            released.append((c, iid))
            if c.held_qty:
                hold = await live.inventory.reserve(sid, iid, c.resident_id, c.held_qty, f"wish-{c.line_id}-cut",
                                                    kind="hold")
                if hold.ok and hold.order_id:
                    new_order = hold.order_id
                    placed.append(PlacedHold(user_id=c.resident_id, order_id=new_order, item_id=iid,
                                             qty=c.held_qty, price_cents=line.unit_price_cents))
                else:  # sold in the moment between the release and the smaller hold
                    uncovered += c.held_qty
            # The release put the whole hold back on the item; the units cut leave it for good.
            cut = c.held_before - c.held_qty
            taken, _ = await live.inventory.withdraw_stock(sid, iid, cut, f"cut-{head.id}-{c.line_id}"[-64:])
            uncovered += cut - taken
            swaps[c.line_id] = {"order_id": new_order, "held_qty": c.held_qty if new_order else 0}
            if new_order is None:
                swaps[c.line_id] |= {"status": "shortfall", "item_id": None}
            told.append(NewNotice(
                user_id=c.resident_id, community_id=window.community_id, kind=CUT, link=f"/wishes/{window.id}",
                dedupe_key=f"wish:{c.line_id}:{CUT}", params={
                    "window_id": window.id, "wish_line_id": c.line_id, "session_id": sid, "product": line.name,
                    "unit": line.unit, "held_before": c.held_before, "held_qty": c.held_qty if new_order else 0,
                    "order_id": new_order}))
        await live.stock.publish_now(sid, iid)
        report.append(LineShortfall(product_id=pid, order_qty=line.order_qty, confirmed_qty=line.confirmed_qty,
                                    from_surplus=from_surplus, from_holds=from_holds, holds_cut=len(cuts),
                                    uncovered=uncovered))
        if uncovered:
            log.warning("order %s, %s: %d units could not be taken back", head.id, pid, uncovered)
    async with live.engine.begin() as conn:
        for line_id, values in swaps.items():
            await conn.execute(wish_outcomes.update().where(wish_outcomes.c.wish_line_id == line_id).values(**values))
        await conn.execute(supplier_orders.update().where(supplier_orders.c.id == head.id,
                                                          supplier_orders.c.status == "confirming")
                           .values(status="confirmed"))
    for c, iid in released:
        await send_personal(live, sid, c.resident_id, HoldReleased(order_id=c.old_order, item_id=iid,
                                                                   qty=c.held_before, reason=CUT))
    await tell_holds_placed(live, window, placed)
    await notify(live.engine, told, [RoomNotices(live, sid)])
    return report


async def confirm_order(live: Live, supplier_id: str, order_id: str, body: ConfirmOrder) -> list[LineShortfall]:
    """pending -> confirmed, with the shortfall (if any) carried to the live session; a repeat is a no-op."""
    async with live.engine.connect() as conn:
        head = await _order(conn, supplier_id, order_id)
    window, items, lines = await _context(live, head)
    if head.status == "pending":
        short = _checked(body, lines)
        cuts = {pid: await _plan(live, window, items.get(pid), lines[pid], qty) for pid, qty in short.items()}
        if not short:
            async with live.engine.begin() as conn:
                await conn.execute(supplier_orders.update().where(
                    supplier_orders.c.id == order_id, supplier_orders.c.status == "pending").values(status="confirmed"))
            return []
        await _store_plan(live, head, lines, short, cuts, {pid: ln.unit for pid, ln in lines.items()})
        async with live.engine.connect() as conn:
            head = await _order(conn, supplier_id, order_id)
        window, items, lines = await _context(live, head)
    if head.status == "confirming":
        return await _carry_out(live, window, head, items, lines)
    if head.status != "confirmed":
        raise Conflict(f"the order is {head.status}; it cannot confirm now", code="wrong_state")
    return []
