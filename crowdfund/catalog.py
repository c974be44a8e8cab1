"""The catalog: suppliers and their products (unit, case size, MOQ, capacity, price tiers)."""

from __future__ import annotations

import json
from typing import Annotated

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.aggregate import Tier
from crowdfund.errors import ProductNotFound
from infra.errors import BadRequest, Conflict
from infra.tables import products, suppliers
from infra.types import Id, Title, Unit

Count = Annotated[int, Meta(ge=0)]


class NewSupplier(msgspec.Struct, kw_only=True):
    id: Annotated[Id, Meta(description="the supplier's token user id")]
    name: str


class NewProduct(msgspec.Struct, kw_only=True):
    id: Id
    supplier_id: Id
    name: Title
    unit: Unit
    case_size: Annotated[int, Meta(ge=1, description="orders are whole cases of this many units")]
    moq: Annotated[Count, Meta(description="the supplier's minimum order, in units")]
    capacity: Annotated[Count, Meta(description="the most the supplier can deliver, in units")]
    tiers: Annotated[list[Tier], Meta(min_length=1)]
    lead_time_hours: Annotated[int, Meta(ge=0, le=24 * 14)] = 12
    aliases: list[str] = []


class SupplierView(msgspec.Struct, kw_only=True):
    id: str
    name: str


class ProductView(msgspec.Struct, kw_only=True):
    """What anyone may see of a product (residents see tiers to know what the crowd buys them)."""

    id: str
    supplier_id: str
    name: str
    aliases: list[str]
    unit: str
    case_size: int
    moq: int
    capacity: int
    lead_time_hours: int
    tiers: list[Tier]


def product_view(row: sa.Row) -> ProductView:
    return ProductView(id=row.id, supplier_id=row.supplier_id, name=row.name, aliases=json.loads(row.aliases),
                       unit=row.unit, case_size=row.case_size, moq=row.moq, capacity=row.capacity,
                       lead_time_hours=row.lead_time_hours, tiers=[Tier(**t) for t in json.loads(row.tiers)])


async def add_supplier(engine: AsyncEngine, supplier: NewSupplier) -> SupplierView:
    if not supplier.name.strip():
        raise BadRequest("name is required")
    try:
        async with engine.begin() as conn:
            await conn.execute(suppliers.insert().values(id=supplier.id, name=supplier.name.strip()))
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"supplier {supplier.id} already exists") from exc
    return SupplierView(id=supplier.id, name=supplier.name.strip())


def check_product(p: NewProduct) -> None:
    """The rules across fields the aggregation relies on (each field's own rule is on NewProduct)."""
    if not p.name.strip() or not p.unit.strip():
        raise BadRequest("name and unit must not be blank")
    if len({t.min_qty for t in p.tiers}) != len(p.tiers):
        raise BadRequest("price tiers need distinct min_qty")


async def add_product(engine: AsyncEngine, p: NewProduct) -> ProductView:
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


async def get_product(engine: AsyncEngine, product_id: str) -> ProductView:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(products).where(products.c.id == product_id))).first()
    if row is None:
        raise ProductNotFound(f"no product {product_id}")
    return product_view(row)


async def all_products(engine: AsyncEngine) -> list[ProductView]:
    async with engine.connect() as conn:
        return [product_view(r) for r in await conn.execute(sa.select(products).order_by(products.c.id))]
