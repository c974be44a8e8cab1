"""Aggregation of wishes into supplier orders: a pure function (no I/O)."""

from __future__ import annotations

from collections import defaultdict

import msgspec


class AggregationError(ValueError):
    """The catalog or the wishes break a rule the aggregation relies on."""


class Tier(msgspec.Struct, kw_only=True):
    min_qty: int
    price_cents: int


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


def _unit_price(product: Product, qty: int) -> int:
    tiers = sorted(product.tiers, key=lambda t: t.min_qty)
    price = tiers[0].price_cents
    for tier in tiers:
        if tier.min_qty <= qty:
            price = tier.price_cents
    return price


def aggregate(catalog: Catalog, wishes: list[Wish]) -> Aggregation:
    """Turn wishes (in submission order) into supplier orders by the rules in docs/api.md."""
    products = {p.id: p for p in catalog.products}
    for p in catalog.products:
        if p.case_size < 1 or p.moq < 0 or p.capacity < 0 or not p.tiers:
            raise AggregationError(f"product {p.id}: case_size >= 1, moq >= 0, capacity >= 0 and a tier are required")
    per_product: dict[str, list[Wish]] = defaultdict(list)
    totals: dict[str, int] = defaultdict(int)
    for w in wishes:
        if w.product_id not in products:
            raise AggregationError(f"wish for unknown product {w.product_id}")
        if w.qty <= 0:
            raise AggregationError(f"wish of {w.resident_id} for {w.product_id}: qty must be positive")
        per_product[w.product_id].append(w)
        totals[w.product_id] += w.qty

    lines: dict[str, list[Line]] = defaultdict(list)
    not_viable, surplus, shortfall = [], [], []
    for pid in sorted(per_product):
        p, wished = products[pid], totals[pid]
        if wished < p.moq:
            not_viable.append(NotViable(product_id=pid, wished_qty=wished, moq=p.moq))
            continue
        cases = -(-wished // p.case_size)
        order_qty = min(cases, p.capacity // p.case_size) * p.case_size
        room = order_qty
        by_point: dict[str, int] = defaultdict(int)
        for w in per_product[pid]:
            filled = min(w.qty, room)
            room -= filled
            if filled:
                by_point[w.pickup_point_id] += filled
            if filled < w.qty:
                shortfall.append(Shortfall(resident_id=w.resident_id, product_id=pid, qty=w.qty - filled))
        if order_qty == 0:
            continue
        price = _unit_price(p, order_qty)
        lines[p.supplier_id].append(Line(product_id=pid, wished_qty=wished, order_qty=order_qty,
                                         unit_price_cents=price, total_cents=price * order_qty,
                                         by_pickup_point=dict(by_point)))
        if room:
            surplus.append(Surplus(product_id=pid, qty=room))
    shortfall.sort(key=lambda s: 0)  # already in submission order per product; keep it stable
    return Aggregation(
        supplier_orders=[SupplierOrder(supplier_id=s, lines=lines[s]) for s in sorted(lines)],
        not_viable=not_viable, surplus=surplus, shortfall=shortfall)
