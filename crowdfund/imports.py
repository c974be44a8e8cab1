"""Import a 接龙 chain pasted from a group chat into wish lines.

Each entry's name is matched to a resident of the window's community and each item to a
catalog product; what cannot be matched, or read, is reported back for the organizer, never
guessed. Every imported line carries a key made of the chain line, so pasting the same chain
again (or a longer version of it) adds only the new lines.
"""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from community.people import pickup_point_in, residents_of
from crowdfund.catalog import all_products
from crowdfund.chain import parse_chain
from crowdfund.matching import match_product, match_resident
from crowdfund.windows import open_window_for
from crowdfund.wishes import NewWish, add_wish
from infra.auth import Principal
from infra.errors import BadRequest

MAX_CHAIN_CHARS = 50_000


class ChainImport(msgspec.Struct, kw_only=True):
    text: str
    pickup_point_id: str  # where lines are picked up unless the organizer edits them later


async def import_chain(engine: AsyncEngine, principal: Principal, wid: str, body: ChainImport) -> dict[str, object]:
    if len(body.text) > MAX_CHAIN_CHARS:
        raise BadRequest(f"a chain is at most {MAX_CHAIN_CHARS} characters")
    window = await open_window_for(engine, principal, wid)
    await pickup_point_in(engine, window.community_id, body.pickup_point_id)
    parsed = parse_chain(body.text)
    people = await residents_of(engine, window.community_id)
    catalog = await all_products(engine)
    imported, repeated, unmatched_names, unmatched_products = [], 0, [], []
    for entry in parsed.entries:
        resident = match_resident(entry.name, people)
        if resident is None:
            unmatched_names.append({"line": entry.line, "name": entry.name})
            continue
        for n, item in enumerate(entry.items):
            product = match_product(item.product, catalog)
            problem = None
            if product is None:
                problem = "no such product in the catalog"
            elif item.unit and item.unit != product["unit"]:
                problem = f"the catalog sells it by {product['unit']}, not {item.unit}"
            elif item.qty != int(item.qty) or not 1 <= int(item.qty) <= 10_000:
                problem = f"{item.qty} is not a whole number of {product['unit']}"
            if problem:
                unmatched_products.append({"line": entry.line, "name": entry.name, "product": item.product,
                                           "qty": item.qty, "unit": item.unit, "problem": problem})
                continue
            line = await add_wish(engine, principal, wid, NewWish(
                product_id=str(product["id"]), qty=int(item.qty), pickup_point_id=body.pickup_point_id),
                imported_for=resident, import_key=f"{entry.key()}#{n}")
            if line is None:
                repeated += 1
            else:
                imported.append(line)
    return {"imported": imported, "already_imported": repeated, "unmatched_names": unmatched_names,
            "unmatched_products": unmatched_products, "unparsed": parsed.unparsed}
