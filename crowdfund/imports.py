"""Import a 接龙 chain pasted from a group chat into wish lines: preview first, then confirm.

The preview (``preview_chain``) writes nothing: it answers what the import would do with every line
(crowdfund/import_plan.py says how each is decided). The confirm (``import_chain``) takes the same text
and the grid worker's corrections, makes the plan again and writes, in one transaction, the new lines
and the edits' net effects. When the confirm carries what the preview showed (``seen``: each line's
``sig``), a line whose plan has changed since (someone wished, a line was imported meanwhile) is not
written but reported in ``changed``, so nothing is written that the preview did not show.

Pasting the same chain again, renumbered or with lines appended, adds only what is new: lines are
recognised by content. An app wish for the same product is flagged, never doubled, unless the grid
worker accepts it as extra. Edits (再来3斤, 改为6盒, 不要了) change her wish, once.

A grid worker imports for the residents of her grid only: a line that means a resident of another
grid is listed as not hers (by the line's own words, never that resident's id) and never written,
and the candidates she is offered for an ambiguous line are her own residents. Hosts, a
community's admin and operators import for the whole community.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import list_pickup_points, pickup_point_in, record_action, residents_of
from crowdfund.catalog import offered_in
from crowdfund.chain import ChainItem, ChainParse, parse_chain
from crowdfund.chain_model import Kind
from crowdfund.import_plan import Context, Corrections, Effect, Plan, PlanLine, plan_chain, signature, window_lines
from crowdfund.matching import find_product
from crowdfund.windows import open_window_for
from crowdfund.wishes import WishLine, line_view
from infra.auth import Principal
from infra.errors import Conflict
from infra.tables import chain_edits, wish_lines
from infra.types import Id

MAX_CHAIN_CHARS = 50_000


class ChainImport(msgspec.Struct, kw_only=True):
    text: Annotated[str, msgspec.Meta(max_length=MAX_CHAIN_CHARS, description="the 接龙 as pasted")]
    pickup_point_id: Id  # where lines are picked up unless the line names one of the community's
    product_id: Annotated[Id | None, msgspec.Meta(
        description="the product meant by lines that name none (a one-product chain)")] = None
    corrections: Corrections = []  # the grid worker's word on lines, by ref
    # The confirm: each preview line's sig by ref; a line whose plan changed since is not written.
    seen: Annotated[dict[Annotated[str, msgspec.Meta(max_length=20)], Annotated[str, msgspec.Meta(max_length=20)]],
                    msgspec.Meta(max_length=20_000)] | None = None


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


class ChainEdit(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A later line that changes someone's order, with its net effect on her wish."""

    line: int
    name: str
    household: str
    kind: Kind
    items: list[ChainItem]
    resident_id: str | None = None
    effect: Effect | None = None
    applied: bool = False  # written by this confirm


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


class ChainPreview(msgspec.Struct, kw_only=True):
    """What the import would do, line by line; nothing is written."""

    lines: list[PlanLine]
    counts: dict[str, int]  # lines by status (a skipped line counts as skipped)
    questions: list[str]
    demand_signals: list[DemandSignal]


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
    edited: list[WishLine] = []  # wishes the chain's edits changed, as they are now
    lines: list[PlanLine] = []  # every line with what was done (``done``)
    counts: dict[str, int] = {}
    changed: list[str] = []  # refs not written: their plan changed since the preview


async def _plan(engine: AsyncEngine, principal: Principal, wid: str, body: ChainImport,
                ) -> tuple[Plan, ChainParse, Context]:
    window = await open_window_for(engine, principal, wid)
    await pickup_point_in(engine, window.community_id, body.pickup_point_id)
    catalog = await offered_in(engine, window.community_id)
    lines, applied = await window_lines(engine, wid)
    ctx = Context(principal=principal, community_id=window.community_id,
                  people=list(await residents_of(engine, window.community_id)), catalog=catalog,
                  points=await list_pickup_points(engine, window.community_id),
                  pickup_point_id=body.pickup_point_id, product_id=body.product_id, lines=lines,
                  applied_edits=applied)
    parsed = parse_chain(body.text, products=[n for p in catalog for n in [p.name, *p.aliases] if "=" not in n])
    sigs = {ln.ref: signature(ln) for ln in plan_chain(ctx, parsed, body.text, []).lines}
    plan = plan_chain(ctx, parsed, body.text, body.corrections)
    for ln in plan.lines:
        ln.sig = sigs.get(ln.ref, "")
    return plan, parsed, ctx


def _counts(plan: Plan) -> dict[str, int]:
    return dict(Counter("skipped" if ln.skipped else ln.status for ln in plan.lines))


def _demand(parsed: ChainParse, ctx: Context) -> list[DemandSignal]:
    return [DemandSignal(line=q.line, name=q.name, text=q.text, product=item.product, qty=item.qty, unit=item.unit)
            for q in parsed.questions for item in q.items if find_product(item.product, ctx.catalog).status == "none"]


async def preview_chain(engine: AsyncEngine, principal: Principal, wid: str, body: ChainImport) -> ChainPreview:
    """What importing the chain with these corrections would do; writes nothing."""
    plan, parsed, ctx = await _plan(engine, principal, wid, body)
    return ChainPreview(lines=plan.lines, counts=_counts(plan), questions=[q.text for q in parsed.questions],
                        demand_signals=_demand(parsed, ctx))


async def import_chain(engine: AsyncEngine, principal: Principal, wid: str, body: ChainImport) -> ChainResult:
    """The confirm: write what the plan with the corrections says, in one transaction."""
    plan, parsed, ctx = await _plan(engine, principal, wid, body)
    written, edited, changed = await _write(engine, principal, wid, ctx.community_id, plan, body.seen)
    async with engine.connect() as conn:
        rows = {r.id: r for r in await conn.execute(
            sa.select(wish_lines).where(wish_lines.c.id.in_(sorted({*written, *edited}))))}
    result = ChainResult(imported=[line_view(rows[i]) for i in written], already_imported=0, unmatched_names=[],
                         unmatched_products=[], unparsed=parsed.unparsed + [q.text for q in parsed.questions],
                         questions=[q.text for q in parsed.questions], demand_signals=_demand(parsed, ctx),
                         edited=[line_view(rows[i]) for i in edited if i not in written], lines=plan.lines,
                         counts=_counts(plan), changed=changed)
    _report(result, plan)
    return result


def _report(result: ChainResult, plan: Plan) -> None:
    """The lists the import always answered with, from the plan: one name or not-yours per chain line."""
    named: set[int] = set()
    for ln in plan.lines:
        if ln.ref not in plan.sources:
            continue
        entry, item = plan.sources[ln.ref]
        if ln.status == "already_imported":
            result.already_imported += 1
        elif ln.status == "not_yours" and entry.row not in named:
            named.add(entry.row)
            result.not_yours.append(NotYours(line=entry.line, name=entry.name or ln.household,
                                             household=ln.household, kind=entry.kind))
        elif ln.status == "unmatched_name" and entry.row not in named:
            named.add(entry.row)
            result.unmatched_names.append(UnmatchedName(line=entry.line, name=entry.name or ln.household,
                                                        candidates=[c.id for c in ln.candidates],
                                                        household=ln.household))
        elif ln.status == "unmatched_product":
            result.unmatched_products.append(UnmatchedProduct(
                line=entry.line, name=entry.name, product=item.product, qty=item.qty, unit=item.unit,
                problem=ln.problem, candidates=[c.id for c in ln.product_candidates], suggested_qty=ln.suggested_qty))
        if entry.kind != "order" and ln.status in ("edit", "already_imported"):
            result.edits.append(ChainEdit(line=entry.line, name=entry.name, household=ln.household, kind=entry.kind,
                                          items=[item], resident_id=ln.resident_id, effect=ln.effect,
                                          applied=ln.done == "written"))


async def _write(engine: AsyncEngine, principal: Principal, wid: str, community_id: str, plan: Plan,
                 seen: dict[str, str] | None) -> tuple[list[int], list[int], list[str]]:
    """Write the plan's new lines and edits; (new line ids, edited line ids, refs changed since the preview).
    Each is in her audit log too: someone else wished or changed a wish for her."""
    now = datetime.now(UTC)
    written: list[int] = []
    edited: list[int] = []
    changed: list[str] = []
    ids: dict[str, int] = {}
    try:
        async with engine.begin() as tx:
            for ln in plan.lines:
                if ln.skipped:
                    ln.done = "skipped"
                    continue
                if seen is not None and seen.get(ln.ref) != ln.sig and ln.ref in plan.sources:
                    ln.done = "changed"  # not what the preview showed: look again, whatever it is now
                    changed.append(ln.ref)
                    continue
                demand = ln.status == "question" and bool(ln.free_text and ln.resident_id)
                if ln.status not in ("new", "edit") and not demand:
                    ln.done = "" if ln.status == "already_imported" else "not_written"
                    continue
                key = plan.keys[ln.ref]
                if ln.status == "new" or demand:
                    ids[ln.ref] = await _insert(tx, principal, wid, ln, key, now)
                    written.append(ids[ln.ref])
                    ln.done = "written"
                    await record_action(tx, resident_id=str(ln.resident_id), community_id=community_id,
                                        actor=principal, action="chain_wish", detail={
                                            "window_id": wid, "wish_id": ids[ln.ref], "product_id": ln.product_id,
                                            "free_text": ln.free_text, "qty": ln.qty, "line": ln.text[:200]})
                    continue
                effect = ln.effect
                assert effect is not None
                target = effect.wish_id or ids.get(plan.edits_of.get(ln.ref, ""))
                if target is None and effect.of != "none":
                    ln.done = "changed"  # the line it changes was not written
                    changed.append(ln.ref)
                    continue
                if target is not None:
                    await _change(tx, target, effect, now)
                    if target not in written:
                        edited.append(target)
                elif effect.after:
                    target = ids[ln.ref] = await _insert(tx, principal, wid, ln, key, now, qty=effect.after)
                    written.append(target)
                else:
                    ln.done = "not_written"  # nothing to withdraw
                    continue
                await tx.execute(chain_edits.insert().values(
                    window_id=wid, import_key=key, wish_line_id=target, kind=ln.kind, qty_before=effect.before,
                    qty_after=effect.after, entered_by=principal.user_id, created_at=now))
                await record_action(tx, resident_id=str(ln.resident_id), community_id=community_id, actor=principal,
                                    action="chain_edit", detail={
                                        "window_id": wid, "wish_id": target, "product_id": ln.product_id,
                                        "kind": ln.kind, "before": effect.before, "after": effect.after,
                                        "line": ln.text[:200]})
                ln.done = "written"
    except sa.exc.IntegrityError as exc:
        raise Conflict("the chain was imported by someone else meanwhile: preview it again",
                       code="import_changed") from exc
    return written, list(dict.fromkeys(edited)), changed


async def _insert(tx: Any, principal: Principal, wid: str, ln: PlanLine, key: str, now: datetime,
                  qty: int | None = None) -> int:
    result = await tx.execute(wish_lines.insert().values(
        window_id=wid, resident_id=ln.resident_id, product_id=ln.product_id, free_text=ln.free_text or None,
        qty=qty or ln.qty, pickup_point_id=ln.pickup_point_id, entered_by=principal.user_id, source="chain",
        import_key=key, status="active", created_at=now, updated_at=now).returning(wish_lines.c.id))
    return int(result.scalar_one())


async def _change(tx: Any, wish_id: int, effect: Effect, now: datetime) -> None:
    """Apply an edit's effect to a wish that must still be as the plan saw it."""
    values: dict[str, object] = {"updated_at": now}
    if effect.after:
        values["qty"] = effect.after
    else:
        values["status"] = "withdrawn"
    done = await tx.execute(wish_lines.update().where(wish_lines.c.id == wish_id, wish_lines.c.status == "active")
                            .values(**values))
    if not done.rowcount:
        raise Conflict("a wish the chain changes was withdrawn meanwhile: preview it again", code="import_changed")
