"""Demand as it grows: per product, how far the wishes are from the supplier's minimum, what case
rounding and capacity would make of them, and the price tier that applies if the cutoff were now.

Residents see the progress (totals only, never who wished); hosts and grid workers also see the
split by pickup point and the free-text wishes, the signals of what to add to the catalog.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.aggregate import Product, order_quantity, unit_price
from crowdfund.catalog import ProductView, offered_in, products_by_id
from crowdfund.windows import WindowWarning, dt_to_ms, window_warnings
from crowdfund.wishes import normalize_text
from infra.tables import wish_lines


class NextTier(msgspec.Struct, kw_only=True):
    min_qty: int  # the order quantity from which it applies
    price_cents: int
    missing_qty: int  # units still to wish before the order reaches it


class ProductProgress(msgspec.Struct, kw_only=True):
    """One product's demand in a window; quantities in the product's unit."""

    product_id: str
    name: str
    unit: str
    offered: bool  # still offered here (a retired product keeps the wishes it got)
    qty: int  # wished in all (active wish lines)
    wishers: int  # residents who wished it
    moq: int
    case_size: int
    capacity: int
    missing_to_moq: int  # units still to wish before the supplier takes an order: "还差 12 斤成团"
    viable: bool  # the MOQ is reached: a cutoff now would order it
    order_qty: int  # a cutoff now would order this: whole cases, capped at capacity (0 below the MOQ)
    surplus_qty: int  # ordered beyond the wishes by case rounding, sold in the live session
    short_qty: int  # wished beyond the capacity: the latest wishes would go unfilled
    price_cents: int  # the unit price now (below the MOQ: the price once it is reached)
    next_tier: NextTier | None  # the next cheaper tier the crowd can still reach, if any
    deliver_by: int  # epoch ms: cutoff + lead time
    arrives_before_live: bool


class ProductDemand(ProductProgress, kw_only=True):
    by_pickup_point: dict[str, int]


class FreeTextDemand(msgspec.Struct, kw_only=True):
    text: str
    normalized: str
    wishes: int


class Demand(msgspec.Struct, kw_only=True):
    """What hosts and grid workers see of a window's demand."""

    products: list[ProductDemand]  # every product offered here, and any other wished in this window
    free_text: list[FreeTextDemand]  # most wished first
    warnings: list[WindowWarning]


def _as_product(p: ProductView) -> Product:
    return Product(id=p.id, name=p.name, supplier_id=p.supplier_id, unit=p.unit, case_size=p.case_size,
                   moq=p.moq, capacity=p.capacity, tiers=p.tiers)


def _wishes_to_order(p: Product, qty: int) -> int | None:
    """The fewest units wished in all for which the order reaches ``qty`` (None: beyond the capacity)."""
    if -(-qty // p.case_size) > p.capacity // p.case_size:
        return None
    return max(p.moq, (-(-qty // p.case_size) - 1) * p.case_size + 1, 1)


def progress_of(view: ProductView, *, offered: bool, qty: int, wishers: int, cutoff_ms: int,
                live_ms: int) -> ProductProgress:
    """A product's progress from its wished total, by the aggregation's own rules."""
    p = _as_product(view)
    order = order_quantity(p, qty)
    at_moq = order_quantity(p, p.moq) or 0
    basis = order if order is not None else at_moq
    next_tier = None
    for tier in sorted(p.tiers, key=lambda t: t.min_qty):
        if tier.min_qty > basis and (needed := _wishes_to_order(p, tier.min_qty)) is not None:
            next_tier = NextTier(min_qty=tier.min_qty, price_cents=tier.price_cents, missing_qty=max(0, needed - qty))
            break
    deliver_by = cutoff_ms + view.lead_time_hours * 3_600_000
    return ProductProgress(
        product_id=p.id, name=p.name, unit=p.unit, offered=offered, qty=qty, wishers=wishers, moq=p.moq,
        case_size=p.case_size, capacity=p.capacity, missing_to_moq=max(0, p.moq - qty), viable=order is not None,
        order_qty=order or 0, surplus_qty=max(0, (order or 0) - qty),
        short_qty=0 if order is None else max(0, qty - order),
        price_cents=unit_price(p, basis), next_tier=next_tier, deliver_by=deliver_by,
        arrives_before_live=deliver_by <= live_ms)


async def _lines(engine: AsyncEngine, wid: str) -> Sequence[Any]:  # rows of five columns
    async with engine.connect() as conn:
        return ((await conn.execute(
            sa.select(wish_lines.c.product_id, wish_lines.c.free_text, wish_lines.c.qty,
                      wish_lines.c.pickup_point_id, wish_lines.c.resident_id)
            .where(wish_lines.c.window_id == wid, wish_lines.c.status == "active"))).all())


async def _per_product(engine: AsyncEngine, window: sa.Row[Any], lines: Sequence[Any],
                       ) -> list[tuple[ProductProgress, Counter[str]]]:
    wishers: dict[str, set[str]] = defaultdict(set)
    by_point: dict[str, Counter[str]] = defaultdict(Counter)
    for r in lines:
        if r.product_id:
            wishers[r.product_id].add(r.resident_id)
            by_point[r.product_id][r.pickup_point_id] += r.qty
    offered = {p.id: p for p in await offered_in(engine, window.community_id)}
    views = {**await products_by_id(engine, set(by_point) - set(offered)), **offered}
    cutoff_ms, live_ms = dt_to_ms(window.cutoff_at), dt_to_ms(window.live_at)
    return [(progress_of(views[pid], offered=pid in offered, qty=sum(by_point[pid].values()),
                         wishers=len(wishers[pid]), cutoff_ms=cutoff_ms, live_ms=live_ms), by_point[pid])
            for pid in sorted(views)]


async def progress(engine: AsyncEngine, window: sa.Row[Any]) -> list[ProductProgress]:
    """Every product's progress in a window, as residents may see it (totals only)."""
    return [p for p, _ in await _per_product(engine, window, await _lines(engine, window.id))]


async def demand(engine: AsyncEngine, window: sa.Row[Any]) -> Demand:
    """What organizers see: progress per product with its pickup-point split, free-text signals, warnings."""
    lines = await _lines(engine, window.id)
    signals: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for r in lines:
        if not r.product_id:
            key = normalize_text(r.free_text)
            signals[key] += 1
            examples.setdefault(key, r.free_text)
    return Demand(
        products=[ProductDemand(**msgspec.structs.asdict(p), by_pickup_point=dict(split))
                  for p, split in await _per_product(engine, window, lines)],
        free_text=[FreeTextDemand(text=examples[k], normalized=k, wishes=n) for k, n in signals.most_common()],
        warnings=await window_warnings(engine, window))

