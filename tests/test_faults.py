"""Faults: Redis losing its scripts or its process mid-sale, and a worker dying before XACK."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.redis_server import EmbeddedRedis
from infra.resources import redis_client
from infra.tables import orders
from inventory import Inventory, keys, outbox
from orders.outbox_worker import OutboxWorker
from orders.reconcile import reconcile


async def _count_sql(engine: AsyncEngine, sid: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(
            sa.select(sa.func.count()).select_from(orders).where(orders.c.session_id == sid))).scalar_one())


async def test_script_flush_mid_sale_keeps_every_operation_working(inventory: Inventory) -> None:
    """After SCRIPT FLUSH (as after a failover) the next reserve, release and sale calls still work."""
    await inventory.load_stock("s1", "i1", add=100, price_cents=1)
    await inventory.open_sale("s1", "i1")
    before = await asyncio.gather(*(inventory.reserve("s1", "i1", f"u{n}", 1, "r") for n in range(20)))
    await inventory.redis.script_flush()
    after = await asyncio.gather(*(inventory.reserve("s1", "i1", f"v{n}", 1, "r") for n in range(20)))
    assert all(r.ok for r in before + after)
    await inventory.redis.script_flush()
    assert await inventory.release("s1", after[0].order_id) is not None
    await inventory.redis.script_flush()
    assert await inventory.close_sale("s1", "i1")
    await inventory.redis.script_flush()
    assert await inventory.load_stock("s1", "i1", add=1) == 62
    assert (await inventory.snapshot("s1"))["i1"].sold == 39


async def test_redis_killed_mid_sale_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """SIGKILL the Redis process during a crowd of grabs, restart it on the same AOF: every
    acknowledged order is still there, stock adds up, and grabs work again at once."""
    server = EmbeddedRedis(tmp_path, appendfsync="everysec")
    await server.start()
    client = redis_client(server.url)
    inv = Inventory(client)
    try:
        await inv.load_stock("k", "i1", add=5000, price_cents=1)
        await inv.open_sale("k", "i1")

        results: dict[int, object] = {}
        killed = asyncio.Event()

        async def grabber(first: int) -> None:
            # Each grabber taps again as soon as it hears back, like a resident on a phone.
            for n in range(first, 5000, 50):
                try:
                    results[n] = await inv.reserve("k", "i1", f"u{n}", 1, f"r{n}")
                except (RedisError, OSError) as exc:
                    results[n] = exc
                    return
                if n > 1000 and not killed.is_set():
                    killed.set()
                    server.kill()

        await asyncio.gather(*(grabber(i) for i in range(50)))
        acknowledged = {r.order_id for r in results.values() if not isinstance(r, Exception) and r.ok}
        assert len(acknowledged) > 1000

        await server.start()  # same port, same data folder, a new process with no scripts loaded
        stored = {k.decode() for k in await client.hkeys(keys.orders("k"))}
        assert acknowledged <= stored
        outboxed = {e[1][b"order"].decode() for e in await client.xrange(keys.outbox("k"))}
        assert acknowledged <= outboxed and outboxed == stored
        snap = (await inv.snapshot("k"))["i1"]
        assert snap.left + snap.sold == 5000 and snap.sold == len(stored)

        again = await inv.reserve("k", "i1", "late", 1, "after-restart")
        assert again.ok
        # A client that never heard its answer retries with the same request id: no second order.
        lost = [n for n, r in results.items() if isinstance(r, Exception)]
        if lost:
            n = lost[0]
            retry = await inv.reserve("k", "i1", f"u{n}", 1, f"r{n}")
            twice = await inv.reserve("k", "i1", f"u{n}", 1, f"r{n}")
            assert twice.order_id == retry.order_id
    finally:
        await client.aclose()
        await server.stop()


async def test_worker_killed_between_commit_and_ack_writes_no_duplicate(
        inventory: Inventory, engine: AsyncEngine) -> None:
    """A worker that committed to SQL but died before XACK: its successor rewrites nothing twice."""
    await inventory.load_stock("w", "i1", add=50, price_cents=1)
    await inventory.open_sale("w", "i1")
    await asyncio.gather(*(inventory.reserve("w", "i1", f"u{n}", 1, "r") for n in range(40)))

    doomed = OutboxWorker(inventory.redis, engine, consumer="doomed", batch=25)
    stream = keys.outbox("w").encode()
    entries = await doomed.read(stream)
    await doomed.write(entries)  # committed ... and the process dies here, before ack
    assert await _count_sql(engine, "w") == 25

    successor = OutboxWorker(inventory.redis, engine, consumer="successor", claim_idle_ms=0)
    assert await successor.drain_once() == 40  # 25 re-claimed from the dead consumer, 15 new
    assert await _count_sql(engine, "w") == 40
    assert await inventory.redis.xlen(keys.outbox("w")) == 0
    pending = await inventory.redis.xpending(keys.outbox("w"), outbox.GROUP)
    assert pending["pending"] == 0
    assert (await reconcile(inventory, engine, "w")).clean


async def test_worker_restarted_under_same_name_finishes_its_own_pending(
        inventory: Inventory, engine: AsyncEngine) -> None:
    """A restarted worker with the same consumer name picks up what it held, without waiting for idle time."""
    await inventory.load_stock("w2", "i1", add=10, price_cents=1)
    await inventory.open_sale("w2", "i1")
    await asyncio.gather(*(inventory.reserve("w2", "i1", f"u{n}", 1, "r") for n in range(10)))
    first = OutboxWorker(inventory.redis, engine, consumer="same")
    await first.write(await first.read(keys.outbox("w2").encode()))
    again = OutboxWorker(inventory.redis, engine, consumer="same", claim_idle_ms=3_600_000)
    assert await again.drain_once() == 10
    assert await _count_sql(engine, "w2") == 10
    assert await inventory.redis.xlen(keys.outbox("w2")) == 0


async def test_a_pending_entry_deleted_before_it_was_written_is_acknowledged_not_reread(
        inventory: Inventory, engine: AsyncEngine) -> None:
    """An entry trimmed away while pending is dropped from the pending list; the others are written."""
    await inventory.load_stock("d", "i1", add=5, price_cents=1)
    await inventory.open_sale("d", "i1")
    await asyncio.gather(*(inventory.reserve("d", "i1", f"u{n}", 1, "r") for n in range(3)))
    stream = keys.outbox("d").encode()
    worker = OutboxWorker(inventory.redis, engine, consumer="w")
    held = await worker.read(stream)  # now pending with this consumer
    await inventory.redis.xdel(stream, held[0][0])
    again = OutboxWorker(inventory.redis, engine, consumer="w")
    assert await again.drain_once() == 2
    assert (await inventory.redis.xpending(stream, outbox.GROUP))["pending"] == 0
    assert await _count_sql(engine, "d") == 2


async def test_release_reaches_sql_as_cancelled_even_before_its_reservation(
        inventory: Inventory, engine: AsyncEngine) -> None:
    """A release entry carries the whole order, so SQL ends right whichever entry lands first."""
    await inventory.load_stock("c", "i1", add=5, price_cents=300)
    await inventory.open_sale("c", "i1")
    r = await inventory.reserve("c", "i1", "u1", 2, "r")
    await inventory.release("c", r.order_id)
    worker = OutboxWorker(inventory.redis, engine, consumer="w")
    entries = await worker.read(keys.outbox("c").encode())
    await worker.write(list(reversed(entries)))  # the release first
    await worker.ack(keys.outbox("c").encode(), entries)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(orders).where(orders.c.id == r.order_id))).one()
    assert row.status == "cancelled" and row.qty == 2 and row.price_cents == 300
    assert (await reconcile(inventory, engine, "c")).clean


async def test_reconciliation_reports_a_difference(inventory: Inventory, engine: AsyncEngine) -> None:
    """When SQL lacks an order Redis counted (and nothing is in flight) reconciliation names the item."""
    await inventory.load_stock("d", "i1", add=5, price_cents=1)
    await inventory.open_sale("d", "i1")
    await inventory.reserve("d", "i1", "u1", 3, "r")
    await OutboxWorker(inventory.redis, engine, consumer="w").drain_once()
    async with engine.begin() as conn:
        await conn.execute(orders.delete().where(orders.c.session_id == "d"))
    report = await reconcile(inventory, engine, "d")
    assert not report.clean and report.in_flight == 0
    assert [(d.item_id, d.redis_sold, d.sql_sold) for d in report.differences] == [("i1", 3, 0)]
