"""What a supplier sees: aggregated demand only, never a resident's name, phone or id.

Every query here reads supplier_orders, their lines and pickup points; none touches
wish_lines or residents, so no resident identity can leak through this module.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.shortfall import LineShortfall
from crowdfund.windows import dt_to_ms
from infra.errors import Conflict, NotFound
from infra.tables import pickup_points, products, supplier_order_lines, supplier_orders, suppliers

NEXT_STATUS = {"confirm": ("pending", "confirmed"), "ship": ("confirmed", "shipped")}


class SupplierOrderLine(msgspec.Struct, kw_only=True):
    product_id: str
    product_name: str
    unit: str
    wished_qty: int
    order_qty: int  # whole cases
    confirmed_qty: int | None  # what the supplier confirmed it delivers; None while pending
    surplus_qty: int  # delivered beyond the wishes held: flash stock in the live session
    unit_price_cents: int
    total_cents: int  # for the units delivered (confirmed_qty once confirmed)
    by_pickup_point: dict[str, int]


class PickLine(msgspec.Struct, kw_only=True):
    product_id: str
    product_name: str
    qty: int
    unit: str


class PickingList(msgspec.Struct, kw_only=True):
    pickup_point_id: str
    name: str
    address: str
    lines: list[PickLine]


class SupplierOrderView(msgspec.Struct, kw_only=True):
    id: str
    status: str  # pending, confirming (a shortfall being applied), confirmed or shipped
    deliver_by: int  # epoch ms
    total_cents: int
    lines: list[SupplierOrderLine]
    picking_lists: list[PickingList]
    supplier_id: str = ""
    supplier_name: str = ""


class SupplierOrders(msgspec.Struct, kw_only=True):
    orders: list[SupplierOrderView]


class OrderStep(msgspec.Struct, kw_only=True):
    id: str
    status: str
    at: int  # epoch ms
    shortfall: list[LineShortfall] = []  # confirm: what the lines confirmed in part took from the live session


async def orders_for(engine: AsyncEngine, supplier_id: str | None, order_id: str | None = None, *,
                     window_id: str | None = None) -> list[SupplierOrderView]:
    """Supplier orders with lines, totals and a picking list per pickup point: one supplier's, or
    (for the host) every supplier's order of one window. Aggregates only: never a resident."""
    query = sa.select(supplier_orders, suppliers.c.name.label("supplier_name")).join(
        suppliers, suppliers.c.id == supplier_orders.c.supplier_id)
    if supplier_id is not None:
        query = query.where(supplier_orders.c.supplier_id == supplier_id)
    if window_id is not None:
        query = query.where(supplier_orders.c.window_id == window_id)
    if order_id:
        query = query.where(supplier_orders.c.id == order_id)
    async with engine.connect() as conn:
        heads = (await conn.execute(query.order_by(supplier_orders.c.deliver_by))).all()
        ids = [h.id for h in heads]
        lines = (await conn.execute(
            sa.select(supplier_order_lines, products.c.name, products.c.unit)
            .join(products, products.c.id == supplier_order_lines.c.product_id)
            .where(supplier_order_lines.c.order_id.in_(ids)).order_by(supplier_order_lines.c.product_id))).all()
        points = {p.id: p for p in await conn.execute(sa.select(pickup_points))}
    if order_id and not heads:
        raise NotFound(f"no order {order_id} for you", code="unknown_order")
    out = []
    for head in heads:
        mine = [ln for ln in lines if ln.order_id == head.id]
        picking: dict[str, list[PickLine]] = {}
        rendered = []
        for ln in mine:
            split = json.loads(ln.by_pickup_point)
            for point_id, qty in sorted(split.items()):
                picking.setdefault(point_id, []).append(
                    PickLine(product_id=ln.product_id, product_name=ln.name, qty=qty, unit=ln.unit))
            confirmed = None if head.status == "pending" else (
                ln.order_qty if ln.confirmed_qty is None else ln.confirmed_qty)
            delivered = ln.order_qty if confirmed is None else confirmed
            rendered.append(SupplierOrderLine(
                product_id=ln.product_id, product_name=ln.name, unit=ln.unit, wished_qty=ln.wished_qty,
                order_qty=ln.order_qty, confirmed_qty=confirmed, surplus_qty=max(0, delivered - sum(split.values())),
                unit_price_cents=ln.unit_price_cents, total_cents=ln.unit_price_cents * delivered,
                by_pickup_point=split))
        out.append(SupplierOrderView(
            id=head.id, status=head.status, deliver_by=dt_to_ms(head.deliver_by),
            supplier_id=head.supplier_id, supplier_name=head.supplier_name,
            total_cents=sum(ln.total_cents for ln in rendered), lines=rendered,
            picking_lists=[
                PickingList(pickup_point_id=pid, name=points[pid].name if pid in points else pid,
                            address=points[pid].address if pid in points else "", lines=items)
                for pid, items in sorted(picking.items())],
        ))
    return out


async def advance(engine: AsyncEngine, supplier_id: str, order_id: str, action: str) -> OrderStep:
    """confirm (pending -> confirmed) or ship (confirmed -> shipped); repeating a step is a no-op."""
    before, after = NEXT_STATUS[action]
    async with engine.begin() as conn:
        status = await conn.scalar(sa.select(supplier_orders.c.status).where(
            supplier_orders.c.id == order_id, supplier_orders.c.supplier_id == supplier_id))
        if status is None:
            raise NotFound(f"no order {order_id} for you", code="unknown_order")
        if status == before:
            await conn.execute(supplier_orders.update().where(supplier_orders.c.id == order_id).values(status=after))
        elif status != after:
            raise Conflict(f"the order is {status}; it cannot {action} now", code="wrong_state")
    return OrderStep(id=order_id, status=after, at=dt_to_ms(datetime.now(UTC)))


CSV_LANGS = ("zh", "en")
CSV_HEADERS = {"zh": ["自提点编号", "自提点", "地址", "商品编号", "商品", "数量", "单位"],
               "en": ["pickup_point_id", "pickup_point", "address", "product_id", "product", "qty", "unit"]}
SURPLUS_TO = {"zh": ("直播间", "余量：直播间现场销售"), "en": ("live", "surplus: sold in the live session")}
# A cell a spreadsheet would run as a formula (CSV injection): a name or address typed by someone else.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str | int) -> str | int:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


async def picking_csv(engine: AsyncEngine, supplier_id: str, order_id: str, lang: str = "zh") -> bytes:
    """The picking lists as CSV for spreadsheets (UTF-8 with a BOM, so Excel reads the Chinese): one
    row per pickup point and product, then a row per product whose surplus goes to the live sale."""
    (order,) = await orders_for(engine, supplier_id, order_id)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_HEADERS[lang])
    for plist in order.picking_lists:
        for pick in plist.lines:
            writer.writerow([_cell(v) for v in (plist.pickup_point_id, plist.name, plist.address, pick.product_id,
                                                pick.product_name, pick.qty, pick.unit)])
    place_id, place = SURPLUS_TO[lang]
    for ln in order.lines:
        if ln.surplus_qty:
            writer.writerow([_cell(v) for v in (place_id, place, "", ln.product_id, ln.product_name,
                                                ln.surplus_qty, ln.unit)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
