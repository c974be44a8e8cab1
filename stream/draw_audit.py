"""The SQL side of lucky-bag draws: past winners for a bag's options, and the public audit of a draw.

Past wins come from ``lucky_bag_draws`` (every drawn bag of the community, written by the outbox
worker) and from the session's own bags drawn moments ago in Redis, which the worker may not have
written yet. The audit of a draw is what anyone of the community may check (``GET
/api/lucky-bag-draws/{bid}``, the /draws page, ``linli verify-draw``): the host, admins and operators
get the entrants' user ids; everyone else gets each entrant's rank key (SHA-256 of seed:user id), her
masked name and flags, never an id, and can recompute the order of the keys and her own key.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import display_names
from infra.auth import Principal
from infra.errors import Forbidden
from infra.ids import ID_RE
from infra.resources import as_str
from infra.tables import live_sessions, lucky_bag_draws
from stream import fairness, keys
from stream.audience import may_watch, sees_ids
from stream.context import Live
from stream.errors import BagNotFound


async def past_wins(live: Live, sid: str, community_id: str, since: datetime) -> list[tuple[datetime, list[str]]]:
    """(drawn at, winners) of every bag of the community drawn since ``since``, this session's too."""
    found: dict[str, tuple[datetime, list[str]]] = {}
    async with live.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(lucky_bag_draws.c.bag_id, lucky_bag_draws.c.drawn_at, lucky_bag_draws.c.winners)
            .join(live_sessions, live_sessions.c.id == lucky_bag_draws.c.session_id)
            .where(live_sessions.c.community_id == community_id, lucky_bag_draws.c.drawn_at >= since))
        for row in rows:
            found[row.bag_id] = (row.drawn_at, [str(w) for w in json.loads(row.winners)])
    for raw in await live.redis.smembers(keys.bags(sid)):
        bid = as_str(raw)
        status, result, drawn_at = await live.redis.hmget(keys.bag(sid, bid), "status", "result", "drawn_at")
        if status == b"drawn" and result and bid not in found and drawn_at:
            at = datetime.fromtimestamp(int(drawn_at) / 1000, UTC)
            if at >= since:
                found[bid] = (at, [str(w) for w in json.loads(result)])
    return list(found.values())


async def options_at_draw(live: Live, sid: str, community_id: str, entrants: list[str], prizes: int,
                          prefer_new_days: int, monthly_cap: int) -> fairness.DrawOptions:
    """The bag's options with what they mean now: which entrants won lately, which reached the cap."""
    if not prefer_new_days and not monthly_cap:
        return fairness.DrawOptions(prizes=prizes)
    now = datetime.now(UTC)
    cap_since = now - timedelta(days=fairness.CAP_WINDOW_DAYS)
    recent_since = now - timedelta(days=prefer_new_days)
    wins = await past_wins(live, sid, community_id, min(cap_since, recent_since))
    entered = set(entrants)
    recent = {w for at, winners in wins if prefer_new_days and at >= recent_since for w in winners} & entered
    counts = Counter(w for at, winners in wins if at >= cap_since for w in winners)
    capped = {w for w in entered if monthly_cap and counts[w] >= monthly_cap}
    return fairness.DrawOptions(prizes=prizes, prefer_new_days=prefer_new_days, monthly_cap=monthly_cap,
                                recent=sorted(recent), capped=sorted(capped))


class AuditRow(msgspec.Struct, kw_only=True):
    """One recorded draw as SQL holds it."""

    bag_id: str
    session_id: str
    community_id: str
    title: str
    seed: str
    seed_hash: str | None
    rule: str | None
    entrants: list[str]
    winners: list[str]
    options: fairness.DrawOptions | None
    prize_item_id: str | None
    prize_points: int
    drawn_at: int  # epoch ms

    def verdict(self) -> fairness.Verdict:
        return fairness.verify(self.bag_id, self.seed, self.seed_hash, self.entrants, self.winners,
                               self.options, self.rule)


async def load_audit(engine: AsyncEngine, bid: str) -> AuditRow:
    """The recorded draw of bag ``bid``; BagNotFound until the draw is recorded."""
    if not ID_RE.match(bid):
        raise BagNotFound("no lucky bag with that id")
    async with engine.connect() as conn:
        row = (await conn.execute(
            sa.select(lucky_bag_draws, live_sessions.c.community_id)
            .join(live_sessions, live_sessions.c.id == lucky_bag_draws.c.session_id)
            .where(lucky_bag_draws.c.bag_id == bid))).first()
    if row is None:
        raise BagNotFound(f"no recorded draw of lucky bag {bid} (not drawn yet, or being recorded)")
    options = (msgspec.json.decode(row.draw_options, type=fairness.DrawOptions) if row.draw_options else None)
    return AuditRow(bag_id=row.bag_id, session_id=row.session_id, community_id=row.community_id, title=row.title,
                    seed=row.seed, seed_hash=row.seed_hash, rule=row.rule, entrants=json.loads(row.entrants),
                    winners=json.loads(row.winners), options=options, prize_item_id=row.prize_item_id,
                    prize_points=row.prize_points, drawn_at=int(row.drawn_at.timestamp() * 1000))


class AuditEntrant(msgspec.Struct, kw_only=True, omit_defaults=True):
    key: str  # SHA-256(seed:user id) (SHA-1 under the legacy rule): her place in the draw
    name: str = ""  # masked name of a registered resident
    user_id: str | None = None  # staff only
    recent: bool = False  # a recent winner: drawn after everyone else (prefer_new_days)
    capped: bool = False  # reached the monthly cap: not eligible
    won: bool = False
    me: bool = False  # the caller


class DrawAudit(msgspec.Struct, kw_only=True):
    """A recorded draw with everything needed to check it (see stream.fairness for the rule)."""

    bag_id: str
    session_id: str
    title: str
    rule: str
    seed: str
    seed_hash: str | None  # published when the bag opened; None for a legacy draw
    prizes: int
    prefer_new_days: int
    monthly_cap: int
    undrawn: int
    entrants: list[AuditEntrant]  # ordered by key
    winners: list[str]  # keys of the winners, in prize order
    drawn_at: int
    seed_matches: bool  # as the server checked it; the page and verify-draw check again
    winners_match: bool


async def audit_for(engine: AsyncEngine, principal: Principal, bid: str) -> DrawAudit:
    """The audit of a draw as the caller may see it: ids for staff, keys and masked names for others."""
    if not may_watch(principal.role):
        raise Forbidden(f"a {principal.role} does not take part in live sessions", code="not_for_role")
    row = await load_audit(engine, bid)
    if not principal.can_act_in(row.community_id):
        raise Forbidden("this draw belongs to another community")
    rule = row.rule or fairness.LEGACY_RULE
    opts = row.options or fairness.DrawOptions(prizes=len(row.winners))
    names = await display_names(engine, row.entrants) if row.entrants else {}
    staff, recent, capped, won = sees_ids(principal.role), set(opts.recent), set(opts.capped), set(row.winners)
    entrants = sorted(
        (AuditEntrant(key=fairness.rank_key(row.seed, u, rule), name=names.get(u, ""), user_id=u if staff else None,
                      recent=u in recent, capped=u in capped, won=u in won, me=u == principal.user_id)
         for u in row.entrants), key=lambda e: e.key)
    verdict = row.verdict()
    return DrawAudit(bag_id=row.bag_id, session_id=row.session_id, title=row.title, rule=rule, seed=row.seed,
                     seed_hash=row.seed_hash, prizes=opts.prizes, prefer_new_days=opts.prefer_new_days,
                     monthly_cap=opts.monthly_cap, undrawn=opts.undrawn,
                     entrants=entrants, winners=[fairness.rank_key(row.seed, u, rule) for u in row.winners],
                     drawn_at=row.drawn_at,
                     seed_matches=verdict.seed_matches, winners_match=verdict.winners_match)
