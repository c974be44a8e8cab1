"""Cutoffs run by the scheduler: on time, after a restart that missed them, and never twice."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from community.people import NewPickupPoint, NewResident, add_pickup_point, add_resident
from community.registry import create_community
from crowdfund.catalog import NewProduct, NewSupplier, Tier, add_product, add_supplier
from crowdfund.windows import NewWindow, create_window
from crowdfund.wishes import NewWish, add_wish
from infra.auth import Principal
from infra.resources import Resources
from infra.settings import Settings
from infra.tables import supplier_orders, wish_outcomes, wish_windows
from linli.scheduler import running_scheduler
from stream.context import Live
from stream.sessions import create_session

HOST = Principal("host1", "host", "c1")


async def _window(live: Live, cutoff_in_s: float) -> str:
    """A window whose cutoff is cutoff_in_s from now, with two wishes for a viable product."""
    engine = live.engine
    await create_community(engine, "c1", "幸福里")
    await add_pickup_point(engine, "c1", NewPickupPoint(id="p1", name="药房"))
    await add_supplier(engine, NewSupplier(id="farm1", name="农场", community_ids=["c1"]))
    await add_product(engine, NewProduct(id="mi", supplier_id="farm1", name="小米", unit="斤", case_size=5, moq=5,
                                         capacity=100, tiers=[Tier(min_qty=0, price_cents=800)]))
    session = await create_session(live, HOST, "直播", "c1")
    now = int(time.time() * 1000)
    window = await create_window(engine, HOST, NewWindow(session_id=session.id, live_at=now + 3_600_000,
                                                         cutoff_at=now + 2_000))
    for user in ("a", "b"):
        await add_resident(engine, "c1", NewResident(id=user, name=f"居民{user}"))
        await add_wish(engine, Principal(user, "resident", "c1"), window.id,
                       NewWish(product_id="mi", qty=3, pickup_point_id="p1"))
    # Move the cutoff to where the test wants it (wishes needed the window open first).
    async with engine.begin() as conn:
        await conn.execute(wish_windows.update().where(wish_windows.c.id == window.id)
                           .values(cutoff_at=datetime.now(UTC) + timedelta(seconds=cutoff_in_s)))
    return window.id


async def _status(engine: AsyncEngine, wid: str) -> str:
    async with engine.connect() as conn:
        return await conn.scalar(sa.select(wish_windows.c.status).where(wish_windows.c.id == wid))


async def _counts(engine: AsyncEngine, wid: str) -> tuple[int, int]:
    async with engine.connect() as conn:
        orders = await conn.scalar(
            sa.select(sa.func.count()).select_from(supplier_orders).where(supplier_orders.c.window_id == wid))
        outcomes = await conn.scalar(
            sa.select(sa.func.count()).select_from(wish_outcomes).where(wish_outcomes.c.window_id == wid))
    return orders, outcomes


async def _wait_status(engine: AsyncEngine, wid: str, status: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while await _status(engine, wid) != status:
        assert time.monotonic() < deadline, f"window still {await _status(engine, wid)}"
        await asyncio.sleep(0.1)


def _resources(redis, engine, tmp_path: Path) -> Resources:  # type: ignore[no-untyped-def]
    return Resources(settings=Settings(data_dir=tmp_path), secret="x" * 32, redis=redis, engine=engine,
                     embedded_redis=None)


async def test_a_cutoff_missed_while_nothing_ran_is_done_at_start_and_only_once(redis, engine, tmp_path: Path) -> None:
    """The scheduler was down at the cutoff: starting it closes the window; restarting it changes nothing."""
    live = Live.build(redis, engine)
    wid = await _window(live, cutoff_in_s=-1)
    assert await _status(engine, wid) == "open"
    res = _resources(redis, engine, tmp_path)
    async with running_scheduler(res):
        await _wait_status(engine, wid, "aggregated", 10)
    first = await _counts(engine, wid)
    assert first == (1, 2)
    async with running_scheduler(res):
        await asyncio.sleep(1.0)  # its start-up sync has run
    assert await _counts(engine, wid) == first and await _status(engine, wid) == "aggregated"


async def test_the_scheduler_closes_a_window_at_its_cutoff(redis, engine, tmp_path: Path) -> None:
    """A running scheduler closes a window within moments of its cutoff, not before."""
    live = Live.build(redis, engine)
    wid = await _window(live, cutoff_in_s=2)
    async with running_scheduler(_resources(redis, engine, tmp_path)):
        await asyncio.sleep(1.0)
        assert await _status(engine, wid) == "open"
        await _wait_status(engine, wid, "aggregated", 8)
    assert await _counts(engine, wid) == (1, 2)


async def test_unconfirmed_holds_go_back_to_the_flash_pool_and_confirmed_ones_stay(
        redis, engine, tmp_path: Path) -> None:
    """At hold_release_at, the hold nobody confirmed returns to stock; the confirmed one is kept."""
    from crowdfund.jobs import run_due
    from infra.tables import orders, wish_outcomes
    from orders.outbox_worker import OutboxWorker

    live = Live.build(redis, engine)
    wid = await _window(live, cutoff_in_s=-1)
    await run_due(live)  # the cutoff: two holds of 3 each, 6 units ordered (5 per case -> 10), 4 surplus
    async with engine.connect() as conn:
        holds = (await conn.scalars(sa.select(wish_outcomes.c.order_id).order_by(wish_outcomes.c.wish_line_id))).all()
        sid = await conn.scalar(sa.select(wish_windows.c.session_id).where(wish_windows.c.id == wid))
    assert await live.inventory.confirm_hold(sid, holds[0], "a") == "confirmed"
    (item,) = (await live.inventory.snapshot(sid)).values()
    assert item.left == 4
    async with engine.begin() as conn:
        await conn.execute(wish_windows.update().where(wish_windows.c.id == wid)
                           .values(hold_release_at=datetime.now(UTC) - timedelta(seconds=1)))
    await run_due(live)
    (item,) = (await live.inventory.snapshot(sid)).values()
    assert item.left == 7 and item.sold == 3
    assert await _status(engine, wid) == "released"
    await run_due(live)  # nothing happens twice
    assert (await live.inventory.snapshot(sid))[item.item_id].left == 7
    await OutboxWorker(redis, engine, consumer="t").drain_once()
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(orders.c.id, orders.c.status).where(orders.c.id.in_(holds)))
        statuses = dict(rows.all())
    assert statuses == {holds[0]: "confirmed", holds[1]: "cancelled"}
