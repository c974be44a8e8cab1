"""Concurrency exactness: a crowd of reserves never oversells, and every order reaches SQL once."""

from __future__ import annotations

import asyncio
import random
import uuid

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.tables import orders
from inventory import Inventory, keys
from orders.outbox_worker import OutboxWorker
from orders.reconcile import reconcile


async def _sql_orders(engine: AsyncEngine, sid: str) -> list[tuple[str, str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(orders.c.id, orders.c.user_id, orders.c.qty).where(orders.c.session_id == sid)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def _crowd(inv: Inventory, sid: str, calls: list[tuple[str, int, str]]) -> list:
    return await asyncio.gather(*(inv.reserve(sid, "i1", user, qty, rid) for user, qty, rid in calls))


async def test_5000_reserves_by_1000_users_for_300_units(inventory: Inventory, engine: AsyncEngine) -> None:
    """5,000 concurrent reserves, 1,000 users, limit 2, 300 units: exactly 300 orders, end to end."""
    await inventory.load_stock("big", "i1", add=300, per_user_limit=2, price_cents=100)
    await inventory.open_sale("big", "i1")
    calls = [(f"u{n % 1000}", 1, f"r{n}") for n in range(5000)]
    random.Random(7).shuffle(calls)
    results = await _crowd(inventory, "big", calls)

    won = [r for r in results if r.ok]
    assert len(won) == 300 and len({r.order_id for r in won}) == 300
    per_user: dict[str, int] = {}
    for (user, qty, _), r in zip(calls, results, strict=True):
        if r.ok:
            per_user[user] = per_user.get(user, 0) + qty
    assert max(per_user.values()) <= 2
    assert {r.reason for r in results if not r.ok} <= {"sold_out", "limit"}
    snap = (await inventory.snapshot("big"))["i1"]
    assert snap.left == 0 and snap.sold == 300
    assert await inventory.redis.xlen(keys.outbox("big")) == 300

    worker = OutboxWorker(inventory.redis, engine, consumer="t1")
    assert await worker.drain_once() == 300
    rows = await _sql_orders(engine, "big")
    assert len(rows) == 300 and sum(q for _, _, q in rows) == 300
    assert {r[0] for r in rows} == {r.order_id for r in won}
    report = await reconcile(inventory, engine, "big")
    assert report.clean and report.in_flight == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stock=st.integers(0, 60),
    limit=st.integers(0, 4),
    users=st.integers(1, 40),
    calls=st.lists(st.tuples(st.integers(0, 39), st.integers(1, 3), st.integers(0, 30)), min_size=1, max_size=150),
)
async def test_no_mix_of_reserves_oversells_or_loses_an_order(
    inventory: Inventory, engine: AsyncEngine, stock: int, limit: int, users: int,
    calls: list[tuple[int, int, int]],
) -> None:
    """Random stock, limits and request mixes (with repeated request ids): the books always balance."""
    sid = f"p{uuid.uuid4().hex[:12]}"
    await inventory.load_stock(sid, "i1", add=stock, per_user_limit=limit, price_cents=1)
    await inventory.open_sale(sid, "i1")
    # Request ids repeat (the third number is small); a repeat carries the same qty, as a client retry would.
    first_qty: dict[tuple[str, str], int] = {}
    plan = []
    for u, qty, rid in calls:
        user, request = f"u{u % users}", f"q{rid}"
        plan.append((user, first_qty.setdefault((user, request), qty), request))
    results = await _crowd(inventory, sid, plan)

    answers: dict[tuple[str, str], object] = {}
    for (user, _, request), r in zip(plan, results, strict=True):
        key = (user, request)
        prior = answers.setdefault(key, (r.ok, r.order_id, r.reason))
        assert prior == (r.ok, r.order_id, r.reason), "a repeated request id must get the first answer"
    won = {(user, request): first_qty[(user, request)] for (user, request), a in answers.items() if a[0]}
    sold = sum(won.values())
    assert sold <= stock
    held: dict[str, int] = {}
    for (user, _), qty in won.items():
        held[user] = held.get(user, 0) + qty
    if limit:
        assert all(v <= limit for v in held.values())
    snap = (await inventory.snapshot(sid))["i1"]
    assert snap.left == stock - sold and snap.sold == sold
    assert await inventory.redis.xlen(keys.outbox(sid)) == len(won)

    await OutboxWorker(inventory.redis, engine, consumer="prop").drain_once()
    rows = await _sql_orders(engine, sid)
    assert len(rows) == len(won) and sum(q for _, _, q in rows) == sold
    assert (await reconcile(inventory, engine, sid)).clean
