"""Lucky bags (福袋) and points red packets (红包).

A bag is entered by residents present in the room (for ``min_watch_s``, with the passphrase
when one is set) and drawn exactly once when its countdown ends, by whichever web process's
sweeper gets there first. Its seed is drawn when it opens and only its SHA-256 is published then;
the winners follow from the seed and the entrants by the rule in stream.fairness, with the bag's
options (prefer residents who have not won lately, a monthly cap) as that rule's tiers and filter.
Prize units leave stock only for winners, so an undrawn prize stays on sale. A red packet's total
is split by the double-mean rule when it is made, and its shares go to the first residents to grab.
"""

from __future__ import annotations

import json
import random
import secrets
from typing import Annotated

import msgspec
from msgspec import Meta

from community.api import display_names
from infra.auth import Principal
from infra.errors import BadRequest
from infra.ids import ID_RE, ID_RULE
from infra.resources import as_str
from infra.types import Id, Title
from stream import fairness, keys
from stream.audience import sees_ids
from stream.context import Live
from stream.draw_audit import options_at_draw
from stream.errors import BagNotFound
from stream.history import HISTORY_LEN
from stream.protocol import LuckyBagStarted, LuckyBagView, RedPacketStarted
from stream.sessions import SessionState, new_id, now_ms

MAX_WINNERS = 1000
MAX_COUNTDOWN_S = 3600


class NewLuckyBag(msgspec.Struct, kw_only=True):
    title: Title
    winners: Annotated[int, Meta(ge=1, le=MAX_WINNERS)]
    countdown_s: Annotated[int, Meta(ge=1, le=MAX_COUNTDOWN_S)]
    passphrase: Annotated[str, Meta(min_length=1, max_length=50, description="口令")] | None = None
    min_watch_s: Annotated[int, Meta(ge=0, le=24 * 3600)] = 0
    prize_item_id: Id | None = None
    prize_points: Annotated[int, Meta(ge=0, le=1_000_000)] = 0
    prefer_new_days: Annotated[int, Meta(ge=0, le=365, description=(
        "draw residents who have not won a bag of the community in the last N days first; 0: no preference"))] = 0
    monthly_cap: Annotated[int, Meta(ge=0, le=100, description=(
        "residents who already won this many bags in the last 30 days cannot win; 0: no cap"))] = 0


class NewRedPacket(msgspec.Struct, kw_only=True):
    total_points: Annotated[int, Meta(ge=1, le=10_000_000)]
    shares: Annotated[int, Meta(ge=1, le=10_000)]


class BagStatus(msgspec.Struct, kw_only=True):
    """A lucky bag with its entrants and, once drawn, everything needed to recompute the draw."""

    id: str
    title: str
    status: str  # open or drawn
    winners: list[str]
    entrants: list[str]
    winner_count: int
    draw_at: int
    seed: str | None
    drawn_at: int | None
    prize_item_id: str | None
    prize_points: int
    audit: str | None
    seed_hash: str = ""  # SHA-256 of the seed, published when the bag opened
    rule: str = ""  # the stream.fairness rule that drew, once drawn
    prefer_new_days: int = 0
    monthly_cap: int = 0
    undrawn: int = 0  # prizes left for nobody eligible: they stayed in stock
    recent: list[str] = []  # entrants drawn last as recent winners
    capped: list[str] = []  # entrants not eligible, at the monthly cap


class BagSummary(msgspec.Struct, kw_only=True):
    """A lucky bag as residents, grid workers and pickup points see it: counts and masked names,
    never a user id (the full audit is for the host, admins and operators)."""

    id: str
    title: str
    status: str  # open or drawn
    winner_count: int
    draw_at: int
    drawn_at: int | None
    seed: str | None
    prize_item_id: str | None
    prize_points: int
    entrant_count: int
    winner_names: list[str]  # masked names, "" for someone not registered
    entered: bool  # the caller is among the entrants
    won: bool  # the caller is among the winners
    seed_hash: str = ""
    undrawn: int = 0


class RedPacketView(msgspec.Struct, kw_only=True):
    id: str
    shares: int
    total_points: int


class RedPacketStatus(msgspec.Struct, kw_only=True):
    """A red packet with who took how much: for the host, admins and operators."""

    id: str
    total_points: int
    shares: int
    left: int
    takers: dict[str, int]  # user id -> points taken


class RedPacketSummary(msgspec.Struct, kw_only=True):
    """A red packet as everyone else in the room sees it: how many took a share, and the caller's own."""

    id: str
    total_points: int
    shares: int
    left: int
    taken: int  # shares taken so far
    mine: int  # points the caller took, 0 when none


async def create_bag(live: Live, state: SessionState, bag: NewLuckyBag) -> LuckyBagView:
    if not bag.title.strip() or (bag.passphrase is not None and not bag.passphrase.strip()):
        raise BadRequest("title and passphrase must not be blank")
    if bag.prize_item_id and not await live.redis.hexists(keys.catalog(state.id), bag.prize_item_id):
        raise BadRequest(f"no item {bag.prize_item_id} in this session", code="unknown_item")
    if not bag.prize_item_id and not bag.prize_points:
        raise BadRequest("a lucky bag needs a prize_item_id or prize_points")
    bid = new_id("b")
    draw_at = now_ms() + bag.countdown_s * 1000
    passphrase = (bag.passphrase or "").strip()
    # The seed is fixed now and kept secret until the draw; its hash, published now, binds it.
    seed = secrets.token_hex(32)
    await live.redis.hset(keys.bag(state.id, bid), mapping={
        "status": "open", "title": bag.title.strip(), "winners": bag.winners, "draw_at": draw_at,
        "passphrase": passphrase, "min_watch_ms": bag.min_watch_s * 1000,
        "prize_item_id": bag.prize_item_id or "", "prize_points": bag.prize_points,
        "seed": seed, "seed_hash": fairness.seed_hash(seed), "prefer_new_days": bag.prefer_new_days,
        "monthly_cap": bag.monthly_cap})
    await live.redis.sadd(keys.bags(state.id), bid)
    await live.redis.zadd(keys.DEADLINES, {f"bag|{state.id}|{bid}": draw_at})
    view = LuckyBagView(id=bid, title=bag.title.strip(), winners=bag.winners, draw_at=draw_at,
                        needs_passphrase=bool(passphrase), min_watch_s=bag.min_watch_s,
                        seed_hash=fairness.seed_hash(seed), prefer_new_days=bag.prefer_new_days,
                        monthly_cap=bag.monthly_cap)
    await live.publisher.publish(state.id, LuckyBagStarted(bag=view))
    return view


async def enter_bag(live: Live, sid: str, bid: str, user_id: str, passphrase: str = "") -> str:
    """Enter a resident; returns 'entered' or 'already_entered', or raises BadRequest with the reason."""
    _known("lucky bag", bid)
    ok, code, *detail = await live.scripts.enter_lucky_bag(
        live.redis, [keys.bag(sid, bid), keys.bag_entrants(sid, bid), keys.conns(sid), keys.present(sid)],
        [user_id, passphrase])
    reason = as_str(code)
    if ok:
        return reason
    if reason == "unknown_bag":
        raise BagNotFound(f"no lucky bag {bid}")
    messages = {
        "bag_closed": "this lucky bag is no longer open",
        "not_present": "only residents watching the live session can enter",
        "watch_longer": f"keep watching {detail[0] if detail else 0} more seconds to enter",
        "passphrase_required": "send the passphrase (口令) to enter",
        "wrong_passphrase": "that is not the passphrase",
    }
    raise BadRequest(messages.get(reason, reason), code=reason)


async def bags_with_passphrase(live: Live, sid: str, text: str) -> list[str]:
    """Open bags whose passphrase is exactly ``text`` (a comment saying it enters them).

    Every resident comment asks this, so all bags are read in one pipelined round trip."""
    bids = sorted(as_str(b) for b in await live.redis.smembers(keys.bags(sid)))
    if not bids:
        return []
    pipe = live.redis.pipeline(transaction=False)
    for bid in bids:
        pipe.hmget(keys.bag(sid, bid), "status", "passphrase")
    wanted = text.strip().encode()
    return [bid for bid, (status, passphrase) in zip(bids, await pipe.execute(), strict=True)
            if status == b"open" and passphrase and passphrase == wanted]


async def open_bags(live: Live, sid: str, user_id: str | None) -> list[LuckyBagView]:
    views = []
    for bid in sorted(as_str(b) for b in await live.redis.smembers(keys.bags(sid))):
        bag = {as_str(k): as_str(v) for k, v in (await live.redis.hgetall(keys.bag(sid, bid))).items()}
        if bag.get("status") != "open":
            continue
        entered = bool(user_id and await live.redis.hexists(keys.bag_entrants(sid, bid), user_id))
        views.append(LuckyBagView(id=bid, title=bag["title"], winners=int(bag["winners"]),
                                  draw_at=int(bag["draw_at"]), needs_passphrase=bool(bag["passphrase"]),
                                  min_watch_s=int(bag["min_watch_ms"]) // 1000, entered=entered,
                                  seed_hash=bag.get("seed_hash", ""),
                                  prefer_new_days=int(bag.get("prefer_new_days") or 0),
                                  monthly_cap=int(bag.get("monthly_cap") or 0)))
    return views


async def draw_bag(live: Live, sid: str, bid: str) -> list[str] | None:
    """Draw if due (exactly once across processes) and award item prizes; None if not yet due."""
    for _attempt in range(5):
        code, winners_json = await _draw_once(live, sid, bid)
        if code != -3:  # -3: an entrant came in while we read them (a clock between processes)
            break
    if code == -2:
        raise BagNotFound(f"no lucky bag {bid}")
    if code in (-1, -3):
        return None
    if code == -4:
        raise BagNotFound(f"lucky bag {bid} changed its seed: not drawn")
    winners: list[str] = json.loads(winners_json)
    prize_item = await live.redis.hget(keys.bag(sid, bid), "prize_item_id")
    if prize_item:
        # Every process that sees the bag drawn may run this: the request id makes it once per winner.
        for user in winners:
            await live.inventory.reserve(sid, as_str(prize_item), user, 1, f"bag-{bid}", kind="prize")
    return winners


async def _draw_once(live: Live, sid: str, bid: str) -> tuple[int, bytes | str]:
    """Read the entrants, compute the winners by the rule and ask the script to record them."""
    bag = {as_str(k): as_str(v) for k, v in (await live.redis.hgetall(keys.bag(sid, bid))).items()}
    if not bag:
        return -2, ""
    if bag["status"] == "drawn":
        return 0, bag["result"]
    if now_ms() < int(bag["draw_at"]):
        return -1, ""
    entrants = sorted(as_str(u) for u in await live.redis.hkeys(keys.bag_entrants(sid, bid)))
    prizes = int(bag["winners"])
    # A bag opened before seeds were kept at opening gets one now (and has no published hash).
    seed = bag.get("seed") or secrets.token_hex(32)
    community = as_str(await live.redis.hget(keys.session(sid), "community_id") or b"")
    options = await options_at_draw(live, sid, community, entrants, prizes, int(bag.get("prefer_new_days") or 0),
                                    int(bag.get("monthly_cap") or 0))
    winners = fairness.winners_by(seed, entrants, prizes, recent=options.recent, capped=options.capped)
    options.undrawn = prizes - len(winners)
    encode = msgspec.json.encode
    code, result = await live.scripts.draw_lucky_bag(
        live.redis, [keys.bag(sid, bid), keys.bag_entrants(sid, bid), keys.event_seq(sid), keys.outbox_of(sid),
                     keys.history(sid)],
        [keys.channel(sid), sid, bid, seed, len(entrants), encode(winners), encode(entrants), encode(options),
         fairness.RULE, options.undrawn, HISTORY_LEN])
    return int(code), result


async def bag_status(live: Live, sid: str, bid: str) -> BagStatus:
    _known("lucky bag", bid)
    bag = {as_str(k): as_str(v) for k, v in (await live.redis.hgetall(keys.bag(sid, bid))).items()}
    if not bag:
        raise BagNotFound(f"no lucky bag {bid}")
    entrants = sorted(as_str(u) for u in await live.redis.hkeys(keys.bag_entrants(sid, bid)))
    drawn = bag["status"] == "drawn"
    options = (msgspec.json.decode(bag["options"], type=fairness.DrawOptions) if drawn and bag.get("options")
               else fairness.DrawOptions(prizes=int(bag["winners"])))
    rule = bag.get("rule") or (fairness.LEGACY_RULE if drawn else "")
    return BagStatus(
        id=bid, title=bag["title"], status=bag["status"], winners=json.loads(bag["result"]) if drawn else [],
        entrants=entrants, winner_count=int(bag["winners"]), draw_at=int(bag["draw_at"]),
        seed=bag.get("seed") if drawn else None, drawn_at=int(bag["drawn_at"]) if drawn else None,
        prize_item_id=bag["prize_item_id"] or None, prize_points=int(bag["prize_points"]),
        audit=_RULE_TEXT.get(rule) if drawn else None, seed_hash=bag.get("seed_hash", ""), rule=rule,
        prefer_new_days=int(bag.get("prefer_new_days") or 0), monthly_cap=int(bag.get("monthly_cap") or 0),
        undrawn=int(bag.get("undrawn") or 0), recent=options.recent, capped=options.capped,
    )


_RULE_TEXT = {
    fairness.RULE: ("winners are the eligible entrants (not capped) ordered by (recent winner last, "
                    "sha256(seed + ':' + user_id), user_id); sha256(seed) is the seed_hash published at opening"),
    fairness.LEGACY_RULE: "winners are the entrants with the smallest sha1(seed + ':' + user_id)",
}


async def bag_for(live: Live, principal: Principal, sid: str, bid: str) -> BagStatus | BagSummary:
    """The bag as the caller may see it: the full audit for staff, a summary for everyone else."""
    full = await bag_status(live, sid, bid)
    if sees_ids(principal.role):
        return full
    names = await display_names(live.engine, full.winners) if full.winners else {}
    return BagSummary(id=full.id, title=full.title, status=full.status, winner_count=full.winner_count,
                      draw_at=full.draw_at, drawn_at=full.drawn_at, seed=full.seed, prize_item_id=full.prize_item_id,
                      prize_points=full.prize_points, entrant_count=len(full.entrants),
                      winner_names=[names.get(w, "") for w in full.winners],
                      entered=principal.user_id in full.entrants, won=principal.user_id in full.winners,
                      seed_hash=full.seed_hash, undrawn=full.undrawn)


def _known(kind: str, bid: str) -> None:
    """A bag or packet id from a client follows the id rule, or there is no such thing: "<bid>:entrants"
    would otherwise read (or write) another key of the session."""
    if not ID_RE.match(bid):
        raise BagNotFound(f"no {kind} with that id ({ID_RULE})")


def split_double_mean(total: int, shares: int, rng: random.Random | None = None) -> list[int]:
    """Split ``total`` points into ``shares`` parts: each between 1 and twice the remaining mean."""
    if shares < 1 or total < shares:
        raise BadRequest("total_points must be at least one point per share")
    rng = rng or random.SystemRandom()
    parts, remaining = [], total
    for left in range(shares, 1, -1):
        cap = min(2 * remaining // left, remaining - (left - 1))
        part = rng.randint(1, max(1, cap))
        parts.append(part)
        remaining -= part
    parts.append(remaining)
    return parts


async def create_packet(live: Live, state: SessionState, packet: NewRedPacket) -> RedPacketView:
    parts = split_double_mean(packet.total_points, packet.shares)
    pid = new_id("p")
    pipe = live.redis.pipeline(transaction=True)  # the packet and all its shares appear together
    pipe.hset(keys.packet(state.id, pid), mapping={"total": packet.total_points, "shares": packet.shares})
    pipe.rpush(keys.packet_shares(state.id, pid), *parts)
    await pipe.execute()
    await live.publisher.publish(state.id, RedPacketStarted(packet_id=pid, shares=packet.shares,
                                                            total_points=packet.total_points))
    return RedPacketView(id=pid, shares=packet.shares, total_points=packet.total_points)


async def grab_packet(live: Live, sid: str, pid: str, user_id: str) -> tuple[bool, int, str | None]:
    """(ok, points, reason) for one resident's grab of a red packet share."""
    _known("red packet", pid)
    if not await live.redis.exists(keys.packet(sid, pid)):
        raise BagNotFound(f"no red packet {pid}")
    result = await live.scripts.grab_red_packet(
        live.redis, [keys.packet_shares(sid, pid), keys.packet_takers(sid, pid), keys.conns(sid), keys.outbox_of(sid)],
        [user_id, sid, pid])
    if result[0] == 1:
        return True, int(result[1]), None
    return False, 0, result[1].decode()


async def packet_status(live: Live, sid: str, pid: str) -> RedPacketStatus:
    _known("red packet", pid)
    meta = await live.redis.hgetall(keys.packet(sid, pid))
    if not meta:
        raise BagNotFound(f"no red packet {pid}")
    takers = {as_str(k): int(v) for k, v in (await live.redis.hgetall(keys.packet_takers(sid, pid))).items()}
    return RedPacketStatus(id=pid, total_points=int(meta[b"total"]), shares=int(meta[b"shares"]),
                           left=await live.redis.llen(keys.packet_shares(sid, pid)), takers=takers)


async def packet_for(live: Live, principal: Principal, sid: str, pid: str) -> RedPacketStatus | RedPacketSummary:
    """The packet as the caller may see it: who took what for staff, counts and her own share for others."""
    full = await packet_status(live, sid, pid)
    if sees_ids(principal.role):
        return full
    return RedPacketSummary(id=full.id, total_points=full.total_points, shares=full.shares, left=full.left,
                            taken=len(full.takers), mine=full.takers.get(principal.user_id, 0))
