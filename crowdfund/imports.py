"""Import a 接龙 chain pasted from a group chat into wish lines.

Each entry's name is matched to a resident of the window's community and each item to a
catalog product; what cannot be matched, or read, is reported back for the organizer, never
guessed. Every imported line carries a key made of the chain line, so pasting the same chain
again (or a longer version of it) adds only the new lines.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import pickup_point_in, residents_of
from crowdfund.catalog import offered_in
from crowdfund.chain import parse_chain
from crowdfund.matching import match_product, match_resident
from crowdfund.windows import open_window_for
from crowdfund.wishes import MAX_WISH_QTY, NewWish, WishLine, add_wish
from infra.auth import Principal
from infra.types import Id

MAX_CHAIN_CHARS = 50_000


class ChainImport(msgspec.Struct, kw_only=True):
    text: Annotated[str, msgspec.Meta(max_length=MAX_CHAIN_CHARS, description="the 接龙 as pasted")]
    pickup_point_id: Id  # where lines are picked up unless the organizer edits them later


class UnmatchedName(msgspec.Struct, kw_only=True):
    line: int
    name: str


class UnmatchedProduct(msgspec.Struct, kw_only=True):
    line: int
    name: str
    product: str
    qty: int | float
    unit: str
    problem: str


class ChainResult(msgspec.Struct, kw_only=True):
    imported: list[WishLine]
    already_imported: int
    unmatched_names: list[UnmatchedName]
    unmatched_products: list[UnmatchedProduct]
    unparsed: list[str]


async def import_chain(engine: AsyncEngine, principal: Principal, wid: str, body: ChainImport) -> ChainResult:
    window = await open_window_for(engine, principal, wid)
    await pickup_point_in(engine, window.community_id, body.pickup_point_id)
    parsed = parse_chain(body.text)
    people = await residents_of(engine, window.community_id)
    catalog = await offered_in(engine, window.community_id)
    result = ChainResult(imported=[], already_imported=0, unmatched_names=[], unmatched_products=[],
                         unparsed=parsed.unparsed)
    for entry in parsed.entries:
        resident = match_resident(entry.name, people)
        if resident is None:
            result.unmatched_names.append(UnmatchedName(line=entry.line, name=entry.name))
            continue
        for n, item in enumerate(entry.items):
            product = match_product(item.product, catalog)
            problem = None
            if product is None:
                problem = "no such product in the catalog"
            elif item.unit and item.unit != product.unit:
                problem = f"the catalog sells it by {product.unit}, not {item.unit}"
            elif item.qty != int(item.qty) or not 1 <= int(item.qty) <= MAX_WISH_QTY:
                problem = f"{item.qty} is not a whole number of {product.unit}"
            if product is None or problem:
                result.unmatched_products.append(UnmatchedProduct(
                    line=entry.line, name=entry.name, product=item.product, qty=item.qty, unit=item.unit,
                    problem=problem or ""))
                continue
            line = await add_wish(engine, principal, wid, NewWish(
                product_id=product.id, qty=int(item.qty), pickup_point_id=body.pickup_point_id),
                imported_for=resident, import_key=f"{entry.key()}#{n}")
            if line is None:
                result.already_imported += 1
            else:
                result.imported.append(line)
    return result
