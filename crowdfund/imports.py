"""Import a 接龙 chain pasted from a group chat into wish lines.

Each entry's name or household is matched to a resident of the window's community and each item
to a catalog product; what cannot be matched, or read, or matches several, is reported back for
the organizer with its candidates, never guessed. Every imported line carries a key made of the
chain line, so pasting the same chain again (or a longer version of it) adds only the new lines.
Edits (再来3斤, 改为6盒, 不要了) and questions are listed, not applied.

A grid worker imports for the residents of her grid only: a line that means a resident of another
grid is listed as not hers (by the line's own words, never that resident's id) and never written,
and the candidates she is offered for an ambiguous line are her own residents. Hosts, a
community's admin and operators import for the whole community.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import list_pickup_points, pickup_point_in, residents_of
from crowdfund.catalog import ProductView, offered_in
from crowdfund.chain import ChainEntry, ChainItem, parse_chain
from crowdfund.chain_model import ChainHeader, Kind
from crowdfund.matching import ResidentMatch, find_product, find_resident, packs_for, to_product_units
from crowdfund.windows import open_window_for
from crowdfund.wishes import MAX_WISH_QTY, NewWish, WishLine, add_wish
from infra.auth import Principal
from infra.types import Id

MAX_CHAIN_CHARS = 50_000


class ChainImport(msgspec.Struct, kw_only=True):
    text: Annotated[str, msgspec.Meta(max_length=MAX_CHAIN_CHARS, description="the 接龙 as pasted")]
    pickup_point_id: Id  # where lines are picked up unless the line names one of the community's
    product_id: Annotated[Id | None, msgspec.Meta(
        description="the product meant by lines that name none (a one-product chain)")] = None


class UnmatchedName(msgspec.Struct, kw_only=True, omit_defaults=True):
    line: int
    name: str  # the name, or the household ("3-1205") when the line gives no name
    candidates: list[str] = []  # resident ids the line could mean (two 王芳, a household of two)
    household: str = ""


class UnmatchedProduct(msgspec.Struct, kw_only=True, omit_defaults=True):
    line: int
    name: str
    product: str
    qty: int | float
    unit: str
    problem: str
    candidates: list[str] = []  # product ids the text could mean, for the organizer to choose
    suggested_qty: int | None = None  # in the catalog's unit, to confirm ("一箱" through the case size)


class ChainEdit(msgspec.Struct, kw_only=True):
    """A later line that changes someone's order; listed for the organizer, not applied."""

    line: int
    name: str
    household: str
    kind: Kind
    items: list[ChainItem]
    resident_id: str | None = None


class DemandSignal(msgspec.Struct, kw_only=True):
    """A question asking for a product the catalog lacks ("有香油吗？要一瓶")."""

    line: int
    name: str
    text: str
    product: str
    qty: int | float
    unit: str


class NotYours(msgspec.Struct, kw_only=True):
    """A line for a resident of another grid: not imported, for that resident's grid worker to enter."""

    line: int
    name: str  # as the line gives it
    household: str = ""
    kind: Kind = "order"


class ChainResult(msgspec.Struct, kw_only=True):
    imported: list[WishLine]
    already_imported: int
    unmatched_names: list[UnmatchedName]
    unmatched_products: list[UnmatchedProduct]
    unparsed: list[str]
    edits: list[ChainEdit] = []
    questions: list[str] = []
    demand_signals: list[DemandSignal] = []
    not_yours: list[NotYours] = []  # a grid worker's lines for residents of other grids, not imported


async def import_chain(engine: AsyncEngine, principal: Principal, wid: str, body: ChainImport) -> ChainResult:
    window = await open_window_for(engine, principal, wid)
    await pickup_point_in(engine, window.community_id, body.pickup_point_id)
    people = await residents_of(engine, window.community_id)
    catalog = await offered_in(engine, window.community_id)
    parsed = parse_chain(body.text, products=[n for p in catalog for n in [p.name, *p.aliases] if "=" not in n])
    # Questions stay among the lines not imported too, so a page that knows only ``unparsed`` shows them.
    result = ChainResult(imported=[], already_imported=0, unmatched_names=[], unmatched_products=[],
                         unparsed=parsed.unparsed + [q.text for q in parsed.questions])
    points = await list_pickup_points(engine, window.community_id)
    for question in parsed.questions:
        result.questions.append(question.text)
        for item in question.items:
            if find_product(item.product, catalog).status == "none":
                result.demand_signals.append(DemandSignal(line=question.line, name=question.name, text=question.text,
                                                          product=item.product, qty=item.qty, unit=item.unit))
    ours = _grid_of(principal)
    for entry in parsed.entries:
        household = f"{entry.building}-{entry.room}".strip("-")
        who = _among(ours, people, find_resident(entry.name, people, building=entry.building, room=entry.room))
        if who is None:
            result.not_yours.append(NotYours(line=entry.line, name=entry.name or household, household=household,
                                             kind=entry.kind))
            continue
        if entry.kind != "order":
            result.edits.append(ChainEdit(line=entry.line, name=entry.name, household=household, kind=entry.kind,
                                          items=entry.items, resident_id=who.resident_id))
            continue
        if who.resident_id is None:
            result.unmatched_names.append(UnmatchedName(line=entry.line, name=entry.name or household,
                                                        candidates=who.candidates, household=household))
            continue
        point = _pickup_point(entry.pickup, points) or body.pickup_point_id
        for n, item in enumerate(entry.items):
            product_id, qty, problem = _product_and_qty(entry, item, body, catalog, parsed.header)
            if problem is not None:
                result.unmatched_products.append(problem)
                continue
            line = await add_wish(engine, principal, wid, NewWish(
                product_id=product_id, qty=qty, pickup_point_id=point),
                imported_for=who.resident_id, import_key=f"{entry.key()}#{n}")
            if line is None:
                result.already_imported += 1
            else:
                result.imported.append(line)
    return result


def _grid_of(principal: Principal) -> str | None:
    """The grid worker whose residents the caller imports for; None for the whole community."""
    return principal.user_id if principal.role == "grid" else None


def _among(grid_worker: str | None, people: list[dict[str, str | None]], who: ResidentMatch) -> ResidentMatch | None:
    """The match as the caller may see it: within her grid (ambiguous ones with her candidates only),
    or None when the line means only residents of other grids."""
    if grid_worker is None:
        return who
    theirs = {p["id"] for p in people if p["grid_worker_id"] == grid_worker}
    if who.resident_id is not None:
        return who if who.resident_id in theirs else None
    if not who.candidates:
        return who
    mine = [c for c in who.candidates if c in theirs]
    return ResidentMatch(status="ambiguous", candidates=mine) if mine else None


def _pickup_point(named: str, points: list[dict[str, str]]) -> str | None:
    """The community's pickup point a line names ("自提：康宁大药房", "放快递柜"), when exactly one fits."""
    if not named:
        return None
    fits = [p["id"] for p in points if named in p["name"] or p["name"] in named]
    return fits[0] if len(fits) == 1 else None


def _product_and_qty(entry: ChainEntry, item: ChainItem, body: ChainImport, catalog: list[ProductView],
                     header: ChainHeader | None) -> tuple[str, int, UnmatchedProduct | None]:
    """The catalog product and quantity of one item, or the problem to report instead."""
    def problem(text: str, candidates: list[str] | None = None, suggested: int | None = None,
                ) -> tuple[str, int, UnmatchedProduct]:
        return "", 0, UnmatchedProduct(line=entry.line, name=entry.name, product=item.product, qty=item.qty,
                                       unit=item.unit, problem=text, candidates=candidates or [],
                                       suggested_qty=suggested)

    chosen = [p for p in catalog if p.id == body.product_id] if item.from_header and body.product_id else []
    found = chosen[0] if chosen else None
    if found is None:
        match = find_product(item.product, catalog, price_cents=item.price)
        if match.status == "none":
            return problem("no such product in the catalog")
        if match.product is None:
            return problem("which product is meant?", [p.id for p in match.candidates])
        found = match.product
    packs = packs_for(found, header.packs, catalog) if header else []
    qty = to_product_units(item.qty, item.unit, found, packs, max_qty=MAX_WISH_QTY)
    if qty.qty is None:
        return problem(qty.problem, [found.id], qty.suggested_qty)
    return found.id, qty.qty, None
