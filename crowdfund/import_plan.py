"""What importing a pasted 接龙 would do, line by line, before anything is written.

The plan reads the chain, the community's residents and catalog and the window's wish lines, and
says for every item of every chain line what the import does with it:

- ``new``: a wish to write (resident, product, qty in the catalog's unit, pickup point);
- ``already_imported``: this line was imported before (recognised by its content, not its number);
- ``app_duplicate``: she already wished for that product herself (or her grid worker did for her):
  flagged, written only when the grid worker accepts it as extra;
- ``edit``: an add, replace or withdraw, with its net effect on her wish (before, after);
- ``unmatched_name`` / ``unmatched_product``: with candidates to choose among;
- ``not_yours``: a resident of another grid (a grid worker imports for her own grid only);
- ``question``: never an order; a question asking for something the catalog lacks ("有香油吗？要一瓶") by a
  resident the line names is written as her free-text wish (``free_text``), a demand signal as an app
  wish for something not in the catalog is;
- ``unparsed``: never written.

The grid worker's corrections (by ``ref``: the row, or the row and item) choose the resident or the
product, set the qty, skip a line or accept an app duplicate; the plan is made again with them, so a
preview with corrections shows exactly what the confirm will write.

Identity: an order's item is keyed by its content without the chain's number, the occurrence of that
content in the paste (two identical real lines stay two) and its item index; keys of lines imported
before content keys existed (the chain number and content) are still recognised. An edit is keyed the
same way in ``chain_edits``, so it is applied once.

What an edit changes: the resident's wish for that product that the chain brought in (the latest), or,
when the chain brought none, her own app wish for it; an add or replace with nothing to change becomes a
new wish, a withdraw with nothing to withdraw changes nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.catalog import ProductView
from crowdfund.chain import ChainEntry, ChainItem, ChainParse
from crowdfund.chain_model import Kind
from crowdfund.errors import ProductNotOffered
from crowdfund.matching import ResidentMatch, find_product, find_resident, packs_for, to_product_units
from crowdfund.wishes import MAX_WISH_QTY, WishQty
from infra.auth import Principal
from infra.errors import BadRequest, Forbidden
from infra.tables import chain_edits, wish_lines
from infra.types import Id

Status = Literal["new", "already_imported", "app_duplicate", "edit", "unmatched_name", "unmatched_product",
                 "not_yours", "question", "unparsed"]
Ref = Annotated[str, msgspec.Meta(max_length=20, pattern=r"^\d{1,6}(\.\d{1,3})?$",
                                  description="a plan line's ref (row.item), or a row for all its items")]
MAX_CORRECTIONS = 5000


class Correction(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The grid worker's word on one line (``ref`` "12.0") or on every item of a row (``ref`` "12")."""

    ref: Ref
    resident_id: Id | None = None  # the resident meant, among the candidates (or any of hers)
    product_id: Id | None = None  # the product meant
    qty: WishQty | None = None  # in the catalog's unit
    skip: bool = False  # write nothing for it
    accept_duplicate: bool = False  # she wished for it in the app too: write this as extra


Corrections = Annotated[list[Correction], msgspec.Meta(max_length=MAX_CORRECTIONS)]


class Candidate(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    name: str
    household: str = ""


class ProductChoice(msgspec.Struct, kw_only=True):
    id: str
    name: str
    unit: str


class Duplicate(msgspec.Struct, kw_only=True):
    """Her own wish for the same product, which the chain line repeats."""

    wish_id: int
    qty: int
    source: str  # app (her own) or proxy (entered for her)


class Effect(msgspec.Struct, kw_only=True):
    """An edit's net effect on her wish for the product: ``wish_id`` None when it makes a new one."""

    wish_id: int | None
    before: int
    after: int
    of: Literal["chain", "app", "none"]  # the wish it changes: one the chain brought, her app wish, none


class PlanLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    ref: str  # "row.item": what corrections name
    row: int  # in the pasted text, from 1
    text: str  # the row as pasted
    status: Status
    line: int = 0  # the chain's own number
    kind: Kind = "order"
    name: str = ""  # as the line gives it
    household: str = ""
    resident_id: str | None = None
    resident_name: str = ""
    candidates: list[Candidate] = []  # residents the line could mean (her own only, for a grid worker)
    product_text: str = ""  # as written
    from_header: bool = False  # the line names no product: the chain's one product (the request's product_id)
    written_qty: int | float = 0
    written_unit: str = ""
    product_id: str | None = None
    product_name: str = ""
    product_candidates: list[ProductChoice] = []
    qty: int = 0  # in the product's unit
    unit: str = ""
    suggested_qty: int | None = None
    pickup_point_id: str = ""
    problem: str = ""
    free_text: str = ""  # a question's demand: written as her free-text wish, when she is known
    duplicate: Duplicate | None = None
    effect: Effect | None = None
    skipped: bool = False  # the grid worker skipped it
    accepted_duplicate: bool = False
    sig: str = ""  # what the preview showed, before corrections; the confirm compares it
    done: str = ""  # the confirm's answer: written, changed, skipped or not_written


@dataclass
class Target:
    """The wish an edit would change, as the plan has it so far."""

    qty: int
    of: Literal["chain", "app"]
    wish_id: int | None = None
    ref: str | None = None  # a new line of this paste


@dataclass
class Context:
    principal: Principal
    community_id: str
    people: list[dict[str, Any]]
    catalog: list[ProductView]
    points: list[dict[str, str]]
    pickup_point_id: str
    product_id: str | None
    lines: list[Any]  # the window's wish lines, every status
    applied_edits: set[str]


@dataclass
class Plan:
    lines: list[PlanLine]
    keys: dict[str, str] = field(default_factory=dict)  # ref -> the key written for it
    sources: dict[str, tuple[ChainEntry, ChainItem]] = field(default_factory=dict)
    edits_of: dict[str, str] = field(default_factory=dict)  # an edit's ref -> the ref of the new line it changes


async def window_lines(engine: AsyncEngine, wid: str) -> tuple[list[Any], set[str]]:
    """The window's wish lines (every status) and the keys of the chain edits applied to it."""
    async with engine.connect() as conn:
        lines = (await conn.execute(sa.select(wish_lines).where(wish_lines.c.window_id == wid)
                                    .order_by(wish_lines.c.id))).all()
        edits = set((await conn.execute(sa.select(chain_edits.c.import_key)
                                        .where(chain_edits.c.window_id == wid))).scalars())
    return list(lines), edits


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def order_key(entry: ChainEntry, occurrence: int, item: int) -> str:
    """An order item's identity: its content, not its number (renumbering keeps it)."""
    return f"c:{_hash(entry.content_key())}#{occurrence}#{item}"


def edit_key(entry: ChainEntry, occurrence: int, item: int) -> str:
    return f"e:{_hash(entry.content_key())}#{occurrence}#{item}"


def _household(entry: ChainEntry) -> str:
    return f"{entry.building}-{entry.room}".strip("-")


def _place(person: dict[str, Any]) -> str:
    return "-".join(str(p) for p in (person.get("building"), person.get("room")) if p)


def plan_chain(ctx: Context, parsed: ChainParse, text: str, corrections: Sequence[Correction]) -> Plan:
    """Every line's fate, with the corrections applied; raises a 4xx for a correction that cannot be."""
    rows = text.splitlines()
    by_ref = _corrections(corrections)
    plan = Plan(lines=[])
    people = {str(p["id"]): p for p in ctx.people}
    grid = ctx.principal.user_id if ctx.principal.role == "grid" else None
    mine = {rid for rid, p in people.items() if grid is None or p["grid_worker_id"] == grid}
    catalog = {p.id: p for p in ctx.catalog}
    for c in corrections:
        if c.resident_id is not None and c.resident_id not in mine:
            raise Forbidden(f"no resident {c.resident_id} in {'your grid' if grid else 'this community'}")
        if c.product_id is not None and c.product_id not in catalog:
            raise ProductNotOffered(f"product {c.product_id} is not offered in this community")

    by_key = {ln.import_key: ln for ln in ctx.lines if ln.import_key}
    holdings: dict[tuple[str, str], Target] = {}
    app: dict[tuple[str, str], Any] = {}
    for ln in ctx.lines:
        if ln.status != "active" or ln.product_id is None:
            continue
        if ln.source == "chain":
            holdings[(ln.resident_id, ln.product_id)] = Target(qty=ln.qty, of="chain", wish_id=ln.id)
        else:
            app[(ln.resident_id, ln.product_id)] = ln
    for (rid, pid), ln in app.items():
        holdings.setdefault((rid, pid), Target(qty=ln.qty, of="app", wish_id=ln.id))

    seen: Counter[str] = Counter()
    used_rows: set[int] = set()
    for entry in parsed.entries:
        seen[entry.content_key()] += 1
        occurrence = seen[entry.content_key()]
        used_rows.update(range(entry.row, max(entry.row, entry.end_row) + 1))
        who = _resident(ctx, entry, mine, grid)
        # A name line with its item lines under it ("孟奶奶" / "苹果3斤") reads as one.
        raw = " / ".join(r.strip() for r in rows[max(entry.row, 1) - 1:max(entry.row, entry.end_row)] if r.strip())
        for n, item in enumerate(entry.items or [ChainItem(product="", qty=0, unit="")]):
            ref = f"{entry.row}.{n}"
            fix = by_ref.get(ref) or Correction(ref=ref)
            whole = by_ref.get(str(entry.row))
            if whole is not None:
                fix = _merged(whole, fix)
            line = PlanLine(ref=ref, row=entry.row, text=raw, status="new", line=entry.line, kind=entry.kind,
                            name=entry.name, household=_household(entry), product_text=item.product,
                            from_header=item.from_header, written_qty=item.qty, written_unit=item.unit)
            plan.lines.append(line)
            plan.sources[ref] = (entry, item)
            key = order_key(entry, occurrence, n) if entry.kind == "order" else edit_key(entry, occurrence, n)
            plan.keys[ref] = key
            old_key = f"{entry.key()}#{n}"
            if fix.skip:
                line.skipped = True
            done = by_key.get(key) or (by_key.get(old_key) if entry.kind == "order" else None)
            if (who is None and fix.resident_id is None) or (done is not None and done.resident_id not in mine):
                line.status = "not_yours"  # before all else: nothing about another grid's resident is told
                continue
            if done is not None or key in ctx.applied_edits:
                line.status = "already_imported"
                if done is not None:
                    line.resident_id, line.product_id, line.qty = done.resident_id, done.product_id, done.qty
                    _name(line, people)
                    if done.product_id in catalog:
                        line.product_name, line.unit = catalog[done.product_id].name, catalog[done.product_id].unit
                continue
            resident = fix.resident_id or (who.resident_id if who is not None else None)
            if resident is None:
                if who is None:
                    line.status = "not_yours"
                else:
                    line.status = "unmatched_name"
                    line.candidates = [Candidate(id=c, name=str(people[c]["name"]), household=_place(people[c]))
                                       for c in who.candidates if c in people]
                continue
            line.resident_id = resident
            _name(line, people)
            line.pickup_point_id = _pickup_point(entry.pickup, ctx.points) or ctx.pickup_point_id
            if not _product(ctx, line, entry, item, fix, parsed, holdings):
                continue
            pid = str(line.product_id)
            if entry.kind == "order":
                if (resident, pid) in app and holdings.get((resident, pid), Target(0, "app")).of == "app":
                    dup = app[(resident, pid)]
                    line.duplicate = Duplicate(wish_id=dup.id, qty=dup.qty, source=dup.source)
                    line.accepted_duplicate = fix.accept_duplicate
                    if not fix.accept_duplicate:
                        line.status = "app_duplicate"
                        continue
                if not line.skipped:
                    holdings[(resident, pid)] = Target(qty=line.qty, of="chain", ref=ref)
                continue
            line.status = "edit"
            _edit(plan, line, holdings, resident, pid)
    _questions(ctx, plan, parsed, by_ref, by_key, mine, grid, used_rows)
    _unread(plan, parsed, rows, used_rows)
    unknown = set(by_ref) - {ln.ref for ln in plan.lines} - {str(ln.row) for ln in plan.lines}
    if unknown:
        raise BadRequest(f"no chain line {sorted(unknown)[0]} to correct", code="unknown_row")
    for ln in plan.lines:
        if ln.status in ("question", "unparsed") and not ln.free_text and (ln.ref in by_ref or str(ln.row) in by_ref):
            raise BadRequest(f"row {ln.row} is not an order: there is nothing to correct", code="nothing_to_correct")
    return plan


def _corrections(corrections: Sequence[Correction]) -> dict[str, Correction]:
    by_ref: dict[str, Correction] = {}
    for c in corrections:
        if c.ref in by_ref:
            raise BadRequest(f"two corrections for {c.ref}", code="duplicate_correction")
        by_ref[c.ref] = c
    return by_ref


def _merged(whole: Correction, item: Correction) -> Correction:
    """A row's correction under the item's own (the item's word wins)."""
    return Correction(ref=item.ref, resident_id=item.resident_id or whole.resident_id,
                      product_id=item.product_id or whole.product_id, qty=item.qty or whole.qty,
                      skip=item.skip or whole.skip, accept_duplicate=item.accept_duplicate or whole.accept_duplicate)


def _name(line: PlanLine, people: dict[str, dict[str, Any]]) -> None:
    person = people.get(str(line.resident_id))
    if person is not None:
        line.resident_name = str(person["name"])


def _resident(ctx: Context, entry: ChainEntry, mine: set[str], grid: str | None) -> ResidentMatch | None:
    """The match as the caller may see it: within her grid (ambiguous ones with her candidates only),
    or None when the line means only residents of other grids."""
    who = find_resident(entry.name, ctx.people, building=entry.building, room=entry.room)
    if grid is None:
        return who
    if who.resident_id is not None:
        return who if who.resident_id in mine else None
    if not who.candidates:
        return who
    ours = [c for c in who.candidates if c in mine]
    return ResidentMatch(status="ambiguous", candidates=ours) if ours else None


def _pickup_point(named: str, points: list[dict[str, str]]) -> str | None:
    """The community's pickup point a line names ("自提：康宁大药房", "放快递柜"), when exactly one fits."""
    if not named:
        return None
    fits = [p["id"] for p in points if named in p["name"] or p["name"] in named]
    return fits[0] if len(fits) == 1 else None


def _product(ctx: Context, line: PlanLine, entry: ChainEntry, item: ChainItem, fix: Correction,
             parsed: ChainParse, holdings: dict[tuple[str, str], Target]) -> bool:
    """Fill the line's product and qty; False (status unmatched_product) when they cannot be told."""
    catalog = {p.id: p for p in ctx.catalog}
    found: ProductView | None = catalog.get(fix.product_id or "")
    if found is None and item.from_header and ctx.product_id in catalog:
        found = catalog[str(ctx.product_id)]
    if found is None and not item.product and entry.kind != "order":
        # "不要了", "再来3斤" naming nothing: the one product she has, else ask.
        hers = [pid for (rid, pid), t in holdings.items() if rid == line.resident_id and t.qty > 0]
        if len(hers) == 1:
            found = catalog.get(hers[0])
        else:
            return _unmatched(line, "which product is meant?", [catalog[p] for p in hers if p in catalog])
    if found is None:
        match = find_product(item.product, ctx.catalog, price_cents=item.price)
        if match.status == "none":
            return _unmatched(line, "no such product in the catalog", [])
        if match.product is None:
            return _unmatched(line, "which product is meant?", match.candidates)
        found = match.product
    line.product_id, line.product_name, line.unit = found.id, found.name, found.unit
    if fix.qty is not None:
        line.qty = fix.qty
        return True
    if entry.kind == "withdraw":
        return True
    header = parsed.header
    packs = packs_for(found, header.packs, ctx.catalog) if header else []
    if header and item.from_header and found.id in (fix.product_id, ctx.product_id):
        # The grid worker said what the header's product is: the header's packs are about it ("5斤一箱").
        packs += [p for p in header.packs if p.product in ("", header.product) and p not in packs]
    qty = to_product_units(item.qty, item.unit, found, packs, max_qty=MAX_WISH_QTY)
    if qty.qty is None:
        line.suggested_qty = qty.suggested_qty
        return _unmatched(line, qty.problem, [found])
    line.qty = qty.qty
    return True


def _unmatched(line: PlanLine, problem: str, candidates: Sequence[ProductView]) -> bool:
    line.status = "unmatched_product"
    line.problem = problem
    line.product_candidates = [ProductChoice(id=p.id, name=p.name, unit=p.unit) for p in candidates]
    return False


def _edit(plan: Plan, line: PlanLine, holdings: dict[tuple[str, str], Target], resident: str, pid: str) -> None:
    """The edit's net effect on her wish for the product, and the plan's view of that wish after it."""
    target = holdings.get((resident, pid))
    if target is not None and target.qty <= 0:
        target = None
    before = target.qty if target else 0
    after = {"add": before + line.qty, "replace": line.qty, "withdraw": 0}[line.kind]
    if after > MAX_WISH_QTY:
        line.status, line.problem = "unmatched_product", f"{after} is more than {MAX_WISH_QTY}"
        return
    line.effect = Effect(wish_id=target.wish_id if target else None, before=before, after=after,
                         of=target.of if target else "none")
    if line.skipped:
        return
    if target is not None:
        target.qty = after
    elif after:
        holdings[(resident, pid)] = Target(qty=after, of="chain", ref=line.ref)
    if target is not None and target.ref is not None:
        plan.edits_of[line.ref] = target.ref  # a line of this paste: written first, then changed


def _questions(ctx: Context, plan: Plan, parsed: ChainParse, by_ref: dict[str, Correction],
               by_key: dict[str, Any], mine: set[str], grid: str | None, used: set[int]) -> None:
    """Questions: never orders; what one asks for that the catalog lacks is her free-text wish."""
    people = {str(p["id"]): p for p in ctx.people}
    seen: Counter[str] = Counter()
    for q in parsed.questions:
        used.add(q.row)
        seen[q.text] += 1
        wanted = [i for i in q.items if find_product(i.product, ctx.catalog).status == "none"]
        if not wanted:
            plan.lines.append(PlanLine(ref=f"{q.row}.0", row=q.row, text=q.text, status="question", line=q.line,
                                       name=q.name))
            continue
        entry = ChainEntry(line=q.line, name=q.name, items=[], note="", building=q.building, room=q.room)
        who = _resident(ctx, entry, mine, grid) if (q.name or q.building or q.room) else None
        for n, item in enumerate(wanted):
            ref = f"{q.row}.{n}"
            fix = by_ref.get(ref) or Correction(ref=ref)
            if str(q.row) in by_ref:
                fix = _merged(by_ref[str(q.row)], fix)
            line = PlanLine(ref=ref, row=q.row, text=q.text, status="question", line=q.line, name=q.name,
                            household=_household(entry), product_text=item.product, written_qty=item.qty,
                            written_unit=item.unit, free_text=item.product, skipped=fix.skip,
                            qty=fix.qty or min(max(1, math.ceil(item.qty)), MAX_WISH_QTY),
                            pickup_point_id=ctx.pickup_point_id)
            plan.lines.append(line)
            plan.keys[ref] = key = f"q:{_hash(q.text)}#{seen[q.text]}#{n}"
            done = by_key.get(key)
            resident = fix.resident_id or (who.resident_id if who is not None else None)
            if done is not None:
                if done.resident_id in mine:
                    line.status, line.resident_id = "already_imported", done.resident_id
                    _name(line, people)
                continue
            if resident is not None:
                line.resident_id = resident
                _name(line, people)
            elif who is not None and who.candidates:
                line.candidates = [Candidate(id=c, name=str(people[c]["name"]), household=_place(people[c]))
                                   for c in who.candidates if c in people]


def _unread(plan: Plan, parsed: ChainParse, rows: list[str], used: set[int]) -> None:
    """The lines not read, each at its row."""
    free = [n for n, raw in enumerate(rows, 1) if n not in used and raw.strip()]
    for text in parsed.unparsed:
        row = next((n for n in free if rows[n - 1].strip() == text.strip()), 0)
        if row:
            free.remove(row)
        plan.lines.append(PlanLine(ref=f"{row}.0", row=row, text=text, status="unparsed"))
    plan.lines.sort(key=lambda ln: (ln.row, ln.ref))


def signature(line: PlanLine) -> str:
    """What a preview line showed, in a few characters: the confirm writes it only if it still holds."""
    effect = line.effect
    text = "|".join(str(v) for v in (line.status, line.resident_id, line.product_id, line.qty, line.pickup_point_id,
                                     effect.wish_id if effect else "", effect.before if effect else "",
                                     line.duplicate.wish_id if line.duplicate else ""))
    return _hash(text)[:12]
