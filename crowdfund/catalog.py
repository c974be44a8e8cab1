"""The catalog: suppliers and their products (unit, case size, MOQ, capacity, price tiers).

A supplier serves the communities an operator names for it, and its products are offered there
only. A retired product is offered nowhere any more; its rows stay, so past windows, wishes and
supplier orders still name it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crowdfund.aggregate import Tier
from crowdfund.errors import ProductNotFound, ProductNotOffered
from infra.auth import Principal
from infra.errors import BadRequest, Conflict, Forbidden, NotFound
from infra.tables import communities, products, supplier_communities, suppliers
from infra.types import Id, Title, Unit

# A million units is past any community's week; bounded so every figure fits a SQL INTEGER.
MAX_UNITS = 1_000_000
Count = Annotated[int, Meta(ge=0, le=MAX_UNITS)]
Units = Annotated[int, Meta(ge=1, le=MAX_UNITS)]
Tiers = Annotated[list[Tier], Meta(min_length=1, max_length=20)]
Aliases = Annotated[list[Annotated[str, Meta(min_length=1, max_length=100)]], Meta(max_length=50)]
CommunityIds = Annotated[list[Id], Meta(max_length=1000, description="the communities the supplier serves")]


class NewSupplier(msgspec.Struct, kw_only=True):
    id: Annotated[Id, Meta(description="the supplier's token user id")]
    name: Title
    community_ids: CommunityIds = []


class SupplierCommunities(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    community_ids: CommunityIds


class NewProduct(msgspec.Struct, kw_only=True):
    id: Id
    supplier_id: Id
    name: Title
    unit: Unit
    case_size: Annotated[Units, Meta(description="orders are whole cases of this many units")]
    moq: Annotated[Units, Meta(description="the supplier's minimum order, in units")]
    capacity: Annotated[Count, Meta(description="the most the supplier can deliver, in units; at least one case")]
    tiers: Tiers
    lead_time_hours: Annotated[int, Meta(ge=0, le=24 * 14)] = 12
    aliases: Aliases = []


class ProductEdit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a product may change. Its id, supplier and unit stay: wishes and orders count in the unit."""

    name: Title | None = None
    aliases: Aliases | None = None
    case_size: Units | None = None
    moq: Units | None = None
    capacity: Count | None = None
    tiers: Tiers | None = None
    lead_time_hours: Annotated[int, Meta(ge=0, le=24 * 14)] | None = None


class SupplierView(msgspec.Struct, kw_only=True):
    id: str
    name: str
    community_ids: list[str] = []


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
    retired_at: int | None = None  # epoch ms; a retired product is offered no more


def product_view(row: sa.Row[Any]) -> ProductView:
    retired: datetime | None = row.retired_at
    return ProductView(id=row.id, supplier_id=row.supplier_id, name=row.name, aliases=json.loads(row.aliases),
                       unit=row.unit, case_size=row.case_size, moq=row.moq, capacity=row.capacity,
                       lead_time_hours=row.lead_time_hours, tiers=[Tier(**t) for t in json.loads(row.tiers)],
                       retired_at=None if retired is None else int(retired.timestamp() * 1000))


async def _check_communities(conn: AsyncConnection, ids: list[str]) -> None:
    known = set((await conn.execute(sa.select(communities.c.id).where(communities.c.id.in_(ids)))).scalars())
    for cid in ids:
        if cid not in known:
            raise NotFound(f"no community {cid}", code="unknown_community")


async def add_supplier(engine: AsyncEngine, supplier: NewSupplier) -> SupplierView:
    if not supplier.name.strip():
        raise BadRequest("name is required")
    serves = sorted(set(supplier.community_ids))
    try:
        async with engine.begin() as conn:
            await _check_communities(conn, serves)
            await conn.execute(suppliers.insert().values(id=supplier.id, name=supplier.name.strip()))
            if serves:
                await conn.execute(supplier_communities.insert(),
                                   [{"supplier_id": supplier.id, "community_id": cid} for cid in serves])
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"supplier {supplier.id} already exists") from exc
    return SupplierView(id=supplier.id, name=supplier.name.strip(), community_ids=serves)


async def set_supplier_communities(engine: AsyncEngine, supplier_id: str, body: SupplierCommunities) -> SupplierView:
    """Replace the communities a supplier serves (its products are offered there from now on)."""
    serves = sorted(set(body.community_ids))
    async with engine.begin() as conn:
        name = await conn.scalar(sa.select(suppliers.c.name).where(suppliers.c.id == supplier_id))
        if name is None:
            raise NotFound(f"no supplier {supplier_id}", code="unknown_supplier")
        await _check_communities(conn, serves)
        await conn.execute(supplier_communities.delete().where(supplier_communities.c.supplier_id == supplier_id))
        if serves:
            await conn.execute(supplier_communities.insert(),
                               [{"supplier_id": supplier_id, "community_id": cid} for cid in serves])
    return SupplierView(id=supplier_id, name=name, community_ids=serves)


def check_product(p: NewProduct) -> None:
    """The rules across fields the aggregation relies on (each field's own rule is on NewProduct)."""
    if not p.name.strip() or not p.unit.strip():
        raise BadRequest("name and unit must not be blank")
    if len({t.min_qty for t in p.tiers}) != len(p.tiers):
        raise BadRequest("price tiers need distinct min_qty")
    if p.capacity < p.case_size:
        raise BadRequest(f"capacity {p.capacity}{p.unit} does not hold one case of {p.case_size}{p.unit}")
    if p.moq > p.capacity:
        raise BadRequest(f"the MOQ {p.moq}{p.unit} is above the capacity {p.capacity}{p.unit}: it could never be "
                         "ordered")
    tiers = sorted(p.tiers, key=lambda t: t.min_qty)
    for lower, higher in pairwise(tiers):
        if higher.price_cents > lower.price_cents:
            raise BadRequest(f"the tier from {higher.min_qty}{p.unit} costs more per unit than the tier from "
                             f"{lower.min_qty}{p.unit}: ordering more must not cost more")
    if tiers[-1].min_qty > p.capacity:
        raise BadRequest(f"the tier from {tiers[-1].min_qty}{p.unit} is above the capacity {p.capacity}{p.unit}: "
                         "it could never apply")


def _stored(p: NewProduct) -> dict[str, Any]:
    """A checked product's columns (tiers by quantity, aliases trimmed)."""
    return {"name": p.name.strip(), "unit": p.unit.strip(), "case_size": p.case_size, "moq": p.moq,
            "capacity": p.capacity, "lead_time_hours": p.lead_time_hours,
            "aliases": json.dumps([a.strip() for a in p.aliases if a.strip()], ensure_ascii=False),
            "tiers": json.dumps([msgspec.to_builtins(t) for t in sorted(p.tiers, key=lambda t: t.min_qty)])}


async def add_product(engine: AsyncEngine, p: NewProduct) -> ProductView:
    check_product(p)
    try:
        async with engine.begin() as conn:
            await conn.execute(products.insert().values(id=p.id, supplier_id=p.supplier_id, **_stored(p)))
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"product {p.id} exists, or supplier {p.supplier_id} does not") from exc
    return await get_product(engine, p.id)


def _may_change(principal: Principal, supplier_id: str) -> None:
    if principal.role != "operator" and not (principal.role == "supplier" and principal.user_id == supplier_id):
        raise Forbidden("suppliers change their own products only")


async def edit_product(engine: AsyncEngine, principal: Principal, product_id: str, edit: ProductEdit) -> ProductView:
    """Change some of a product's fields; the whole product is checked again. Orders made already keep
    their own quantities and prices; an open window's cutoff uses the product as it is then."""
    current = await get_product(engine, product_id)
    _may_change(principal, current.supplier_id)
    if current.retired_at is not None:
        raise Conflict(f"product {product_id} is retired", code="product_retired")
    changes = {f: v for f in edit.__struct_fields__ if (v := getattr(edit, f)) is not None}
    if not changes:
        raise BadRequest("give at least one field to change: " + ", ".join(edit.__struct_fields__))
    merged = NewProduct(id=current.id, supplier_id=current.supplier_id, name=current.name, unit=current.unit,
                        case_size=current.case_size, moq=current.moq, capacity=current.capacity,
                        tiers=current.tiers, lead_time_hours=current.lead_time_hours, aliases=current.aliases)
    merged = msgspec.structs.replace(merged, **changes)
    check_product(merged)
    async with engine.begin() as conn:
        await conn.execute(products.update().where(products.c.id == product_id).values(**_stored(merged)))
    return await get_product(engine, product_id)


async def retire_product(engine: AsyncEngine, principal: Principal, product_id: str) -> ProductView:
    """Offer a product no more (repeating it changes nothing). Its history stays, and wishes already in
    a window that is still open are aggregated at that window's cutoff as usual."""
    current = await get_product(engine, product_id)
    _may_change(principal, current.supplier_id)
    async with engine.begin() as conn:
        await conn.execute(products.update().where(products.c.id == product_id, products.c.retired_at.is_(None))
                           .values(retired_at=datetime.now(UTC)))
    return await get_product(engine, product_id)


async def get_product(engine: AsyncEngine, product_id: str) -> ProductView:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(products).where(products.c.id == product_id))).first()
    if row is None:
        raise ProductNotFound(f"no product {product_id}")
    return product_view(row)


def offered_clause(community_id: str) -> sa.ColumnElement[bool]:
    """Products offered in a community: not retired, from a supplier that serves it."""
    return sa.and_(products.c.retired_at.is_(None), products.c.supplier_id.in_(
        sa.select(supplier_communities.c.supplier_id).where(supplier_communities.c.community_id == community_id)))


async def _select(engine: AsyncEngine, where: sa.ColumnElement[bool]) -> list[ProductView]:
    async with engine.connect() as conn:
        return [product_view(r) for r in await conn.execute(sa.select(products).where(where).order_by(products.c.id))]


async def all_products(engine: AsyncEngine) -> list[ProductView]:
    """Every product, retired ones too (for admins)."""
    return await _select(engine, sa.true())


async def offered_in(engine: AsyncEngine, community_id: str) -> list[ProductView]:
    """The products a community is offered now."""
    return await _select(engine, offered_clause(community_id))


async def products_by_id(engine: AsyncEngine, ids: set[str]) -> dict[str, ProductView]:
    """Products by id, retired or not (what a past window or order names keeps its name)."""
    return {p.id: p for p in await _select(engine, products.c.id.in_(sorted(ids)))} if ids else {}


async def products_for(engine: AsyncEngine, principal: Principal, community_id: str | None = None) -> list[ProductView]:
    """The catalog as the caller sees it: a supplier its own products (retired ones too), an operator every
    product (or a community's offer), everyone else (a community's admin too) what their community is offered."""
    if principal.role == "supplier":
        return await _select(engine, products.c.supplier_id == principal.user_id)
    if principal.role == "operator":
        return await offered_in(engine, community_id) if community_id else await all_products(engine)
    return await offered_in(engine, principal.community_id) if principal.community_id else []


async def offered_product(engine: AsyncEngine, community_id: str, product_id: str) -> ProductView:
    """A product a community may wish for now; ProductNotOffered when retired or not served there."""
    product = await get_product(engine, product_id)
    async with engine.connect() as conn:
        offered = await conn.scalar(sa.select(products.c.id).where(products.c.id == product_id,
                                                                   offered_clause(community_id)))
    if offered is None:
        why = "is retired" if product.retired_at is not None else "is not offered in this community"
        raise ProductNotOffered(f"{product.name} ({product_id}) {why}")
    return product
