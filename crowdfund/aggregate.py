"""Aggregation of wishes into supplier orders: a pure function (no I/O)."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import msgspec

from infra.types import Cents


class AggregationError(ValueError):
    """The catalog or the wishes break a rule the aggregation relies on."""


class Tier(msgspec.Struct, kw_only=True):
    """From ``min_qty`` units ordered in all, each unit costs ``price_cents``."""

    min_qty: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]  # catalog.MAX_UNITS
    price_cents: Cents


class Product(msgspec.Struct, kw_only=True):
    id: str
    name: str
    supplier_id: str
    unit: str
    case_size: int
    moq: int
    capacity: int
    tiers: list[Tier]


class Catalog(msgspec.Struct, kw_only=True):
    products: list[Product]


class Wish(msgspec.Struct, kw_only=True):
    resident_id: str
    product_id: str
    qty: int
    pickup_point_id: str


class Line(msgspec.Struct, kw_only=True):
    product_id: str
    wished_qty: int
    order_qty: int
    unit_price_cents: int
    total_cents: int
    by_pickup_point: dict[str, int]


class SupplierOrder(msgspec.Struct, kw_only=True):
    supplier_id: str
    lines: list[Line]


class NotViable(msgspec.Struct, kw_only=True):
    product_id: str
    wished_qty: int
    moq: int


class Surplus(msgspec.Struct, kw_only=True):
    product_id: str
    qty: int


class Shortfall(msgspec.Struct, kw_only=True):
    resident_id: str
    product_id: str
    qty: int


class Aggregation(msgspec.Struct, kw_only=True):
    supplier_orders: list[SupplierOrder]
    not_viable: list[NotViable]
    surplus: list[Surplus]
    shortfall: list[Shortfall]


def unit_price(product: Product, qty: int) -> int:
    """The tier with the highest min_qty not above qty (the lowest tier when none applies)."""
    tiers = sorted(product.tiers, key=lambda t: t.min_qty)
    price = tiers[0].price_cents
    for tier in tiers:
        if tier.min_qty <= qty:
            price = tier.price_cents
    return price


def order_quantity(product: Product, wished: int) -> int | None:
    """Whole cases covering the wishes, capped at capacity; None when below the MOQ."""
    if wished < product.moq:
        return None
    cases = -(-wished // product.case_size)
    return min(cases, product.capacity // product.case_size) * product.case_size


def check_catalog(catalog: Catalog) -> dict[str, Product]:
    for p in catalog.products:
        if p.case_size < 1 or p.moq < 0 or p.capacity < 0 or not p.tiers:
            raise AggregationError(f"product {p.id}: case_size >= 1, moq >= 0, capacity >= 0 and a tier are required")
    return {p.id: p for p in catalog.products}


def binding_products(catalog: Catalog, totals: dict[str, dict[str, int]]) -> list[str]:
    """Products whose capacity cannot cover the wishes: only for these does submission order matter."""
    products = check_catalog(catalog)
    binding = []
    for pid, by_point in totals.items():
        wished = sum(by_point.values())
        qty = order_quantity(products[pid], wished)
        if qty is not None and qty < wished:
            binding.append(pid)
    return sorted(binding)


# (submission position, resident or wish-line id, qty, pickup point): plain tuples, as a SQL
# cursor yields them.
OrderedWish = tuple[int, str, int, str]


def aggregate_totals(catalog: Catalog, totals: dict[str, dict[str, int]],
                     ordered: dict[str, list[OrderedWish]]) -> Aggregation:
    """Aggregate from wished totals per product and pickup point; ``ordered`` holds, for each
    binding product (see binding_products), its wishes in submission order."""
    products = check_catalog(catalog)
    lines: dict[str, list[Line]] = defaultdict(list)
    not_viable, surplus, short = [], [], []
    for pid in sorted(totals):
        if pid not in products:
            raise AggregationError(f"wish for unknown product {pid}")
        p, by_point = products[pid], totals[pid]
        wished = sum(by_point.values())
        order_qty = order_quantity(p, wished)
        if order_qty is None:
            not_viable.append(NotViable(product_id=pid, wished_qty=wished, moq=p.moq))
            continue
        filled = dict(by_point)
        if order_qty < wished:
            # Capacity binds: fill in submission order, the rest is shortfall.
            room, filled = order_qty, defaultdict(int)
            for position, who, qty, point in ordered[pid]:
                take = min(qty, room)
                room -= take
                if take:
                    filled[point] += take
                if take < qty:
                    short.append((position, Shortfall(resident_id=str(who), product_id=pid, qty=qty - take)))
        if order_qty == 0:
            continue
        price = unit_price(p, order_qty)
        lines[p.supplier_id].append(Line(product_id=pid, wished_qty=wished, order_qty=order_qty,
                                         unit_price_cents=price, total_cents=price * order_qty,
                                         by_pickup_point=dict(filled)))
        if order_qty > wished:
            surplus.append(Surplus(product_id=pid, qty=order_qty - wished))
    return Aggregation(
        supplier_orders=[SupplierOrder(supplier_id=s, lines=lines[s]) for s in sorted(lines)],
        not_viable=not_viable, surplus=surplus,
        shortfall=[s for _, s in sorted(short, key=lambda pair: pair[0])])  # in submission order


def aggregate(catalog: Catalog, wishes: list[Wish]) -> Aggregation:
    """Turn wishes (in submission order) into supplier orders; the rules are in docs/api.md."""
    products = check_catalog(catalog)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    ordered: dict[str, list[OrderedWish]] = defaultdict(list)
    for position, w in enumerate(wishes):
        if w.product_id not in products:
            raise AggregationError(f"wish for unknown product {w.product_id}")
        if w.qty <= 0:
            raise AggregationError(f"wish of {w.resident_id} for {w.product_id}: qty must be positive")
        totals[w.product_id][w.pickup_point_id] += w.qty
        ordered[w.product_id].append((position, w.resident_id, w.qty, w.pickup_point_id))
    return aggregate_totals(catalog, totals, ordered)
