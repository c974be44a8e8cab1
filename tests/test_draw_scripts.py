"""The draw and history scripts under concurrency, against a real Redis and SQL: many callers at once,
an exact outcome."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from stream import fairness, history, keys
from stream.context import Live
from stream.lucky import NewLuckyBag, create_bag, draw_bag
from stream.protocol import CommentEvent
from stream.sessions import SessionState

STATE = SessionState(id="sdraws", community_id="c1", title="周六直播", status="live", pinned_item_id=None,
                     stream_url=None)


async def test_forty_concurrent_draws_record_one(redis: aioredis.Redis, engine: AsyncEngine) -> None:
    """40 callers draw one due bag at once: all get the same winners, by the rule from the committed seed;
    one lucky_bag_result is published and kept, one bag_drawn goes to the outbox."""
    live = Live.build(redis, engine)
    bag = await create_bag(live, STATE, NewLuckyBag(title="福袋", winners=3, countdown_s=1, prize_points=5))
    users = [f"u{n}" for n in range(50)]
    await redis.hset(keys.bag_entrants(STATE.id, bag.id), mapping=dict.fromkeys(users, 1))
    await redis.hset(keys.bag(STATE.id, bag.id), "draw_at", 0)
    results = await asyncio.gather(*(draw_bag(live, STATE.id, bag.id) for _ in range(40)))
    seed = (await redis.hget(keys.bag(STATE.id, bag.id), "seed")).decode()
    assert fairness.seed_hash(seed) == bag.seed_hash
    assert all(r == fairness.winners_by(seed, users, 3) for r in results)
    kept = await redis.xrange(keys.history(STATE.id))
    assert [json.loads(f[b"e"])["type"] for _, f in kept] == ["lucky_bag_started", "lucky_bag_result"]
    drawn = [f for _, f in await redis.xrange(keys.outbox_of(STATE.id)) if f.get(b"event") == b"bag_drawn"]
    assert len(drawn) == 1 and drawn[0][b"rule"] == fairness.RULE.encode()


async def test_a_draw_that_read_too_few_entrants_is_refused(redis: aioredis.Redis, engine: AsyncEngine) -> None:
    """The script records a draw only for the entrant count it was computed from (-3 otherwise), and only
    with the bag's own seed (-4): nothing is published or kept for either."""
    live = Live.build(redis, engine)
    bag = await create_bag(live, STATE, NewLuckyBag(title="福袋", winners=1, countdown_s=1, prize_points=5))
    await redis.hset(keys.bag_entrants(STATE.id, bag.id), mapping={"a": 1, "b": 1})
    await redis.hset(keys.bag(STATE.id, bag.id), "draw_at", 0)
    seed = (await redis.hget(keys.bag(STATE.id, bag.id), "seed")).decode()
    call = [keys.bag(STATE.id, bag.id), keys.bag_entrants(STATE.id, bag.id), keys.event_seq(STATE.id),
            keys.outbox_of(STATE.id), keys.history(STATE.id)]
    args = [keys.channel(STATE.id), STATE.id, bag.id]
    tail = ['["a"]', '["a"]', '{"prizes":1}', fairness.RULE, 0, 100]
    assert (await live.scripts.draw_lucky_bag(redis, call, [*args, seed, 1, *tail]))[0] == -3
    assert (await live.scripts.draw_lucky_bag(redis, call, [*args, "0" * 64, 2, *tail]))[0] == -4
    assert await redis.hget(keys.bag(STATE.id, bag.id), "status") == b"open"
    assert await redis.xlen(keys.history(STATE.id)) == 1  # lucky_bag_started only


async def test_concurrent_publishers_keep_a_gapless_history(redis: aioredis.Redis, engine: AsyncEngine) -> None:
    """300 events from 300 concurrent publishers (comments and stock ticks): the history holds each seq once,
    in order, as published, and the events after any seq are exactly the tail."""
    live = Live.build(redis, engine)
    await live.inventory.load_stock(STATE.id, "i1", add=10)

    async def one(n: int) -> None:
        if n % 3:
            await live.publisher.publish(STATE.id, CommentEvent(text=f"第{n}条", user_id=f"u{n}"))
        else:
            await live.stock.publish_now(STATE.id, "i1")

    await asyncio.gather(*(one(n) for n in range(300)))
    everything = await history.missed(redis, STATE.id, 0)
    assert everything is not None and len(everything) == 300
    assert [json.loads(e)["seq"] for e in everything] == list(range(1, 301))
    assert await history.missed(redis, STATE.id, 250) == everything[250:]
    assert await history.missed(redis, STATE.id, 300) == []
    assert await history.missed(redis, STATE.id, 301) is None
    await redis.xtrim(keys.history(STATE.id), maxlen=10, approximate=False)
    assert await history.missed(redis, STATE.id, 250) is None
    assert await history.missed(redis, STATE.id, 290) == everything[290:]
