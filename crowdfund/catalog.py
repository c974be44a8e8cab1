"""The catalog: suppliers and their products (unit, case size, MOQ, capacity, price tiers)."""

from __future__ import annotations

import json

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.aggregate import Tier
from crowdfund.errors import ProductNotFound
from infra.errors import BadRequest, Conflict
from infra.ids import ID_RE, ID_RULE
from infra.tables import products, suppliers


class NewSupplier(msgspec.Struct, kw_only=True):
    id: str
    name: str


class NewProduct(msgspec.Struct, kw_only=True):
    id: str
    supplier_id: str
    name: str
    unit: str
    case_size: int
    moq: int
    capacity: int
    tiers: list[Tier]
    lead_time_hours: int = 12
    aliases: list[str] = []


def product_json(row: sa.Row) -> dict[str, object]:
    """What anyone may see of a product (residents see tiers to know what the crowd buys them)."""
    return {"id": row.id, "supplier_id": row.supplier_id, "name": row.name, "aliases": json.loads(row.aliases),
            "unit": row.unit, "case_size": row.case_size, "moq": row.moq, "capacity": row.capacity,
            "lead_time_hours": row.lead_time_hours, "tiers": json.loads(row.tiers)}


async def add_supplier(engine: AsyncEngine, supplier: NewSupplier) -> dict[str, str]:
    if not ID_RE.match(supplier.id):
        raise BadRequest(f"id must be {ID_RULE}")
    if not supplier.name.strip():
        raise BadRequest("name is required")
    try:
        async with engine.begin() as conn:
            await conn.execute(suppliers.insert().values(id=supplier.id, name=supplier.name.strip()))
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"supplier {supplier.id} already exists") from exc
    return {"id": supplier.id, "name": supplier.name.strip()}


def check_product(p: NewProduct) -> None:
    """Every rule the aggregation relies on, checked once at the door."""
    if not ID_RE.match(p.id):
        raise BadRequest(f"id must be {ID_RULE}")
    if not p.name.strip() or len(p.name) > 200 or not p.unit.strip() or len(p.unit) > 16:
        raise BadRequest("name (1-200) and unit (1-16 characters) are required")
    if p.case_size < 1 or p.moq < 0 or p.capacity < 0 or not 0 <= p.lead_time_hours <= 24 * 14:
        raise BadRequest("case_size >= 1, moq >= 0, capacity >= 0 and lead_time_hours 0-336 are required")
    if not p.tiers or any(t.min_qty < 0 or t.price_cents < 0 for t in p.tiers):
        raise BadRequest("at least one price tier with min_qty >= 0 and price_cents >= 0 is required")
    if len({t.min_qty for t in p.tiers}) != len(p.tiers):
        raise BadRequest("price tiers need distinct min_qty")


async def add_product(engine: AsyncEngine, p: NewProduct) -> dict[str, object]:
    check_product(p)
    tiers = sorted(p.tiers, key=lambda t: t.min_qty)
    aliases = [a.strip() for a in p.aliases if a.strip()]
    try:
        async with engine.begin() as conn:
            await conn.execute(products.insert().values(
                id=p.id, supplier_id=p.supplier_id, name=p.name.strip(), aliases=json.dumps(aliases, ensure_ascii=False),
                unit=p.unit.strip(), case_size=p.case_size, moq=p.moq, capacity=p.capacity,
                lead_time_hours=p.lead_time_hours, tiers=json.dumps([msgspec.to_builtins(t) for t in tiers])))
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"product {p.id} exists, or supplier {p.supplier_id} does not") from exc
    return await get_product(engine, p.id)


async def get_product(engine: AsyncEngine, product_id: str) -> dict[str, object]:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(products).where(products.c.id == product_id))).first()
    if row is None:
        raise ProductNotFound(f"no product {product_id}")
    return product_json(row)


async def all_products(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        return [product_json(r) for r in await conn.execute(sa.select(products).order_by(products.c.id))]
