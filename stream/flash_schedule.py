"""Scheduled flash sales: the host plans a flash for a time, everyone sees the countdown, and the
sale starts on time exactly once, whichever of the web processes gets there first.

A plan is a hash under the session's hash tag (``{s:<sid>}:flash_plan:<pid>``) and a member of the
session's queue (pending plans by start time); ``linli:flash_starts`` indexes every pending plan
by start time so each web process can poll one sorted set, as the deadline sweeper does.

Why Redis and not an APScheduler job: the web processes, not the scheduler process, run the live
rooms, any of them may die or restart, and a plan must outlive all of them. Redis already holds
the session (with its AOF), and one Lua claim (``claim_flash_plan.lua``) decides which poller
starts the sale. The claim is a lease: a process that dies between claiming and finishing is
replaced after ``LEASE_MS`` by another, which opens the same sale (the deadline is fixed at the
first claim). Opening a sale that is open changes nothing, so the sale opens once; the
``flash_started`` event goes out before the plan is marked started, so only a process dying in
that gap makes a second, identical event follow after the lease (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import msgspec
from msgspec import Meta
from redis.exceptions import RedisError
from redis.typing import EncodableT

from infra.errors import BadRequest, DomainError
from infra.ids import ID_RE
from infra.resources import as_str
from infra.types import Cents, EpochMs, Id
from stream import keys
from stream.context import Live
from stream.errors import WrongState
from stream.protocol import FlashPlanCancelled, FlashPlanView, FlashScheduled, FlashStarted
from stream.sessions import MAX_FLASH_S, SessionState, Units, load_session, new_id, now_ms

log = logging.getLogger(__name__)

POLL_EVERY_S = 0.2
LEASE_MS = 10_000
MAX_AHEAD_S = 7 * 24 * 3600  # a plan is for this live, not next month's
MAX_PLANS = 50  # pending plans per session
PRELAUNCH_S = 300  # pages show the big countdown this long before the start (the platforms' 5 minutes)


class NewFlashPlan(msgspec.Struct, kw_only=True):
    """A flash to start at ``starts_at`` (epoch ms) or ``in_s`` seconds from now (one of the two)."""

    item_id: Id
    duration_s: Annotated[int, Meta(ge=1, le=MAX_FLASH_S)]
    starts_at: EpochMs | None = None
    in_s: Annotated[int, Meta(ge=0, le=MAX_AHEAD_S)] | None = None
    price_cents: Cents | None = None
    per_user_limit: Units | None = None


class FlashPlans(msgspec.Struct, kw_only=True):
    plans: list[FlashPlanView]  # pending, soonest first
    prelaunch_s: int = PRELAUNCH_S


def _view(pid: str, f: dict[str, str]) -> FlashPlanView:
    return FlashPlanView(
        id=pid, item_id=f["item_id"], starts_at=int(f["starts_at"]), duration_s=int(f["duration_s"]),
        price_cents=int(f["price_cents"]) if f.get("price_cents") else None,
        per_user_limit=int(f["per_user_limit"]) if f.get("per_user_limit") else None)


async def _fields(live: Live, sid: str, pid: str) -> dict[str, str]:
    return {as_str(k): as_str(v) for k, v in (await live.redis.hgetall(keys.flash_plan(sid, pid))).items()}


async def pending_plans(live: Live, sid: str) -> list[FlashPlanView]:
    """The session's flashes not started yet, soonest first (shown in every snapshot)."""
    pids = [as_str(p) for p in await live.redis.zrange(keys.flash_queue(sid), 0, -1) if isinstance(p, (bytes, str))]
    if not pids:
        return []
    # One round trip for the whole queue: every snapshot (every joining viewer) reads it.
    pipe = live.redis.pipeline(transaction=False)
    for pid in pids:
        pipe.hgetall(keys.flash_plan(sid, pid))
    plans = []
    for pid, raw in zip(pids, await pipe.execute(), strict=True):
        f = {as_str(k): as_str(v) for k, v in raw.items()}
        if f.get("state") == "pending":
            plans.append(_view(pid, f))
    return plans


async def schedule(live: Live, state: SessionState, body: NewFlashPlan) -> FlashPlanView:
    """Queue a flash for its start time; everyone sees flash_scheduled (and a countdown)."""
    if (body.starts_at is None) == (body.in_s is None):
        raise BadRequest("give either starts_at (epoch ms) or in_s (seconds from now)", code="bad_start")
    now = now_ms()
    starts_at = now + body.in_s * 1000 if body.in_s is not None else int(body.starts_at or 0)
    if starts_at < now - 60_000 or starts_at > now + MAX_AHEAD_S * 1000:
        raise BadRequest("the start must be from now to 7 days ahead", code="bad_start")
    if not await live.redis.hexists(keys.catalog(state.id), body.item_id):
        raise BadRequest(f"no item {body.item_id} in this session", code="unknown_item")
    if await live.redis.zcard(keys.flash_queue(state.id)) >= MAX_PLANS:
        raise BadRequest(f"at most {MAX_PLANS} flashes can wait in the queue", code="too_many_plans")
    pid = new_id("f")
    fields: dict[EncodableT, EncodableT] = {
        "item_id": body.item_id, "starts_at": starts_at, "duration_s": body.duration_s,
        "price_cents": "" if body.price_cents is None else body.price_cents,
        "per_user_limit": "" if body.per_user_limit is None else body.per_user_limit,
        "state": "pending", "ends_at": 0}
    pipe = live.redis.pipeline(transaction=True)
    pipe.hset(keys.flash_plan(state.id, pid), mapping=fields)
    pipe.zadd(keys.flash_queue(state.id), {pid: starts_at})
    await pipe.execute()
    # The global start list lives in another Redis Cluster slot than the session, so it cannot join
    # the MULTI; added after the plan exists, a poller never finds a start without its plan.
    await live.redis.zadd(keys.FLASH_STARTS, {f"{state.id}|{pid}": starts_at})
    view = _view(pid, {str(k): str(v) for k, v in fields.items()})
    await live.publisher.publish(state.id, FlashScheduled(plan=view))
    return view


async def cancel(live: Live, state: SessionState, pid: str) -> None:
    """Take a pending flash off the queue; everyone sees flash_plan_cancelled."""
    if not ID_RE.match(pid):  # it names a key: no braces that would leave the session's hash slot
        raise BadRequest(f"no scheduled flash {pid[:64]} in this session", code="unknown_plan")
    result = int(await live.scripts.cancel_flash_plan(
        live.redis, [keys.flash_plan(state.id, pid), keys.flash_queue(state.id)], [pid]))
    if result == -2:
        raise BadRequest(f"no scheduled flash {pid} in this session", code="unknown_plan")
    if result == -1:
        raise WrongState("that flash has started already; end it from the item instead")
    await live.redis.zrem(keys.FLASH_STARTS, f"{state.id}|{pid}")
    if result == 1:
        await live.publisher.publish(state.id, FlashPlanCancelled(plan_id=pid))


async def start_due(live: Live, sid: str, pid: str, process_id: str) -> bool | None:
    """Start one plan if it is due and this process wins its claim. True: started here; False: nothing
    more to do for it (started, cancelled, gone); None: not yet (early, session not live, claimed)."""
    try:
        state = await load_session(live, sid)
    except DomainError:
        return False
    if state.status == "ended":
        if int(await live.scripts.cancel_flash_plan(
                live.redis, [keys.flash_plan(sid, pid), keys.flash_queue(sid)], [pid])) == 1:
            await live.publisher.publish(sid, FlashPlanCancelled(plan_id=pid))
        return False
    if state.status != "live":
        return None  # a draft session starts its due flashes once it goes live
    claimed, value = await live.scripts.claim_flash_plan(
        live.redis, [keys.flash_plan(sid, pid)], [process_id, LEASE_MS])
    if not int(claimed):
        return None if as_str(value) in ("early", "claimed") else False
    ends_at = int(value)
    f = await _fields(live, sid, pid)
    iid = f["item_id"]
    price = int(f["price_cents"]) if f.get("price_cents") else None
    limit = int(f["per_user_limit"]) if f.get("per_user_limit") else None
    await live.inventory.open_sale(sid, iid, ends_at_ms=ends_at, price_cents=price, per_user_limit=limit)
    await live.redis.zadd(keys.DEADLINES, {f"flash|{sid}|{iid}|{ends_at}": ends_at})
    stock = (await live.inventory.snapshot(sid))[iid]
    await live.publisher.publish(sid, FlashStarted(
        item_id=iid, ends_at=ends_at, price_cents=stock.price_cents, per_user_limit=stock.per_user_limit,
        left=stock.left, plan_id=pid))
    await live.scripts.finish_flash_plan(live.redis, [keys.flash_plan(sid, pid), keys.flash_queue(sid)],
                                         [process_id, pid])
    return True


async def poll_once(live: Live) -> int:
    """Start every due plan this process wins; returns how many it started."""
    due = await live.redis.zrangebyscore(keys.FLASH_STARTS, "-inf", now_ms(), start=0, num=50)
    started = 0
    for member in due:
        if not isinstance(member, (bytes, str)):
            continue
        sid, _, pid = as_str(member).partition("|")
        try:
            outcome = await start_due(live, sid, pid, live.hub.process_id)
        except DomainError as exc:  # the item is gone, say: the plan cannot start, so drop it
            log.warning("dropping scheduled flash %s: %s", as_str(member), exc)
            outcome = False
        if outcome:
            started += 1
        if outcome is not None:
            await live.redis.zrem(keys.FLASH_STARTS, member)
    return started


async def poll_forever(live: Live) -> None:
    while True:
        try:
            await poll_once(live)
        except (RedisError, OSError) as exc:
            log.warning("flash schedule poll failed, retrying: %s", exc)
        except Exception:  # the poller must outlive a bug in one plan's handling
            log.exception("flash schedule poll failed")
        await asyncio.sleep(POLL_EVERY_S)
