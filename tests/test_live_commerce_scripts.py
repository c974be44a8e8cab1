"""The Lua scripts of scheduled flashes and the purchase ticker under many concurrent callers, on a
real Redis: exactly one claim, one start, one drain; every purchase counted once."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import msgspec
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.auth import Principal
from infra.redis_server import free_port
from infra.tables import communities
from stream import flash_schedule, keys
from stream.api import Live, NewItem, add_item, create_session, go_live
from stream.purchases import Purchases
from stream.subscriptions import Subscriptions

HOST = Principal(user_id="host1", role="host", community_id="c1")


async def _session(redis: Redis, engine: AsyncEngine) -> tuple[Live, str, str]:
    async with engine.begin() as conn:
        await conn.execute(communities.insert().values(id="c1", name="幸福里", created_at=datetime.now(UTC)))
    live = Live.build(redis, engine)
    state = await create_session(live, HOST, "周六直播", "c1")
    item = await add_item(live, state.id, NewItem(title="红薯", price_cents=350, stock=100, per_user_limit=3,
                                                  unit="斤"))
    await go_live(live, state)
    return live, state.id, item.id


async def _plan(redis: Redis, sid: str, pid: str, iid: str, starts_at: int) -> None:
    await redis.hset(keys.flash_plan(sid, pid), mapping={
        "item_id": iid, "starts_at": starts_at, "duration_s": 30, "price_cents": "", "per_user_limit": "",
        "state": "pending", "ends_at": 0})
    await redis.zadd(keys.flash_queue(sid), {pid: starts_at})


async def test_one_of_fifty_claimers_wins_a_due_plan_and_a_lapsed_lease_passes_on_the_same_sale(
        redis: Redis, engine: AsyncEngine) -> None:
    """50 processes claim a due plan at once: one gets it; after its lease lapses another takes the
    same deadline; an early plan is nobody's yet."""
    live, sid, iid = await _session(redis, engine)
    now = int(time.time() * 1000)
    await _plan(redis, sid, "f1", iid, now - 10)
    answers = await asyncio.gather(*(live.scripts.claim_flash_plan(redis, [keys.flash_plan(sid, "f1")], [f"p{n}", 200])
                                     for n in range(50)))
    winners = [a for a in answers if int(a[0]) == 1]
    assert len(winners) == 1 and {a[1] for a in answers if int(a[0]) == 0} == {b"claimed"}
    ends_at = int(winners[0][1])
    await asyncio.sleep(0.3)
    again = await asyncio.gather(*(live.scripts.claim_flash_plan(redis, [keys.flash_plan(sid, "f1")], [f"q{n}", 5000])
                                   for n in range(20)))
    assert [int(a[1]) for a in again if int(a[0]) == 1] == [ends_at]
    await _plan(redis, sid, "f2", iid, now + 60_000)
    assert await live.scripts.claim_flash_plan(redis, [keys.flash_plan(sid, "f2")], ["p", 200]) == [0, b"early"]


async def test_twenty_pollers_start_a_due_plan_once(redis: Redis, engine: AsyncEngine) -> None:
    """20 web processes run the start of one due plan at once: one sale opens, one flash_started is published."""
    live, sid, iid = await _session(redis, engine)
    heard: list[bytes] = []

    async def hear(channel: str, data: bytes) -> None:
        heard.append(data)

    async def nothing_missed(name: str) -> None:
        return None

    subscriber = Subscriptions(redis, hear, nothing_missed)  # events are published on the session's shard channel
    await subscriber.start()
    assert await subscriber.add(sid, (keys.channel(sid),))
    await _plan(redis, sid, "f1", iid, int(time.time() * 1000))
    outcomes = await asyncio.gather(*(flash_schedule.start_due(live, sid, "f1", f"proc{n}") for n in range(20)))
    # None: another poller held the claim; False: it came after the start was done (a slow machine
    # lets one poller begin only then). Either way exactly one started it.
    assert outcomes.count(True) == 1 and set(outcomes) <= {True, None, False}
    assert await flash_schedule.start_due(live, sid, "f1", "late") is False  # started: nothing more to do
    await asyncio.sleep(0.5)
    await subscriber.stop()
    started = [msgspec.json.decode(data) for data in heard if b'"flash_started"' in data]
    assert len(started) == 1 and started[0]["plan_id"] == "f1" and started[0]["item_id"] == iid
    assert (await live.inventory.snapshot(sid))[iid].on_sale
    assert await redis.zcard(keys.flash_queue(sid)) == 0


async def test_cancel_and_claim_race_and_exactly_one_side_wins(redis: Redis, engine: AsyncEngine) -> None:
    """Cancels and claims of one due plan at once: either it is cancelled and nobody claimed it, or one
    claimed it and every cancel was told too late."""
    live, sid, iid = await _session(redis, engine)
    for round_ in range(10):
        pid = f"f{round_}"
        await _plan(redis, sid, pid, iid, int(time.time() * 1000) - 1)
        plan_keys = [keys.flash_plan(sid, pid), keys.flash_queue(sid)]
        calls = [live.scripts.cancel_flash_plan(redis, plan_keys, [pid]) for _ in range(10)]
        calls += [live.scripts.claim_flash_plan(redis, [keys.flash_plan(sid, pid)], [f"p{n}", 5000]) for n in range(10)]
        results = await asyncio.gather(*calls)
        cancels, claims = [int(r) for r in results[:10]], [int(r[0]) for r in results[10:]]
        if 1 in cancels:
            assert cancels.count(1) == 1 and sum(claims) == 0
        else:
            assert set(cancels) == {-1} and sum(claims) == 1


async def test_every_purchase_is_counted_once_and_one_beat_drains_them(redis: Redis, engine: AsyncEngine) -> None:
    """300 purchases noted at once, then 20 processes beat at once: one of them gets all 300 buyers, and
    the chart counts 300 grabs and their revenue."""
    live, sid, iid = await _session(redis, engine)
    await asyncio.gather(*(live.purchases.note(sid, iid, f"u{n}", 2) for n in range(300)))
    beats = await asyncio.gather(*(live.scripts.tick_session(
        redis, [keys.ticker_lock(sid), keys.ticker_buyers(sid), keys.viewers(sid), keys.insight(sid, "viewers")],
        [f"proc{n}", 2000]) for n in range(20)))
    drained = [b for b in beats if b is not None]
    assert len(drained) == 1 and len(drained[0]) == 300 and len(set(drained[0])) == 300
    assert sum(int(v) for v in (await redis.hgetall(keys.insight(sid, "grabs"))).values()) == 300
    assert sum(int(v) for v in (await redis.hgetall(keys.insight(sid, "revenue"))).values()) == 300 * 2 * 350
    assert await redis.llen(keys.ticker_buyers(sid)) == 0
    assert await redis.hlen(keys.insight(sid, "viewers")) == 1  # the beat sampled the viewers once


async def test_notes_nobody_waits_for_are_counted_in_order_and_a_failed_one_is_logged(
        redis: Redis, engine: AsyncEngine, caplog: pytest.LogCaptureFixture) -> None:
    """The grab path notes a purchase without waiting: counted all the same, in order with the waited
    ones; when Redis is gone, whoever waits hears of it and the rest is logged (the orders stand)."""
    live, sid, iid = await _session(redis, engine)
    for n in range(50):
        live.purchases.note_soon(sid, iid, f"s{n}", 1)
    await live.purchases.note(sid, iid, "last", 1)  # queued behind them: done once they are
    buyers = [b.decode() for b in await redis.lrange(keys.ticker_buyers(sid), 0, -1)]
    assert buyers == [f"s{n}" for n in range(50)] + ["last"]
    assert sum(int(v) for v in (await redis.hgetall(keys.insight(sid, "grabs"))).values()) == 51
    gone = Redis(port=free_port())
    try:
        broken = Purchases(gone, live.scripts.note_purchase)
        broken.note_soon(sid, iid, "x", 1)
        with pytest.raises(RedisError):
            await broken.note(sid, iid, "y", 1)
    finally:
        await gone.aclose()
    assert "could not note 1 purchases for the ticker" in caplog.text


async def test_batched_purchase_notes_count_every_item_and_session_apart(redis: Redis, engine: AsyncEngine) -> None:
    """Notes of two items and two sessions at once, coalesced into few calls: each session's chart
    counts its own grabs and revenue at each item's price, and its ticker lists its buyers in order."""
    live, sid, iid = await _session(redis, engine)
    other = await create_session(live, HOST, "周日直播", "c1")
    eggs = await add_item(live, sid, NewItem(title="土鸡蛋", price_cents=1200, stock=100, unit="盒"))
    notes = [(sid, iid, f"u{n}", 1) for n in range(100)] + [(sid, eggs.id, f"e{n}", 2) for n in range(50)]
    notes += [(other.id, iid, f"o{n}", 3) for n in range(30)]  # an item id of another session: no price there
    await asyncio.gather(*(live.purchases.note(*note) for note in notes))

    async def chart(s: str, name: str) -> int:
        return sum(int(v) for v in (await redis.hgetall(keys.insight(s, name))).values())

    assert await chart(sid, "grabs") == 150 and await chart(sid, "revenue") == 100 * 350 + 50 * 2 * 1200
    assert await chart(other.id, "grabs") == 30 and await chart(other.id, "revenue") == 0
    buyers = [b.decode() for b in await redis.lrange(keys.ticker_buyers(sid), 0, -1)]
    assert sorted(buyers) == sorted(u for s, _, u, _ in notes if s == sid)
    assert [b for b in buyers if b.startswith("u")] == [f"u{n}" for n in range(100)]
