"""Benchmark: orders/s the outbox worker drains from Redis into SQL, next to a bare batched
INSERT of the same rows into the same database, in the same run.

    python -m orders.bench            # SQLite; and PostgreSQL when LINLI_BENCH_PG is a URL
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from infra.db import create_engine, migrate
from infra.redis_server import EmbeddedRedis
from infra.resources import redis_client
from infra.settings import normalize_database_url
from infra.tables import metadata, orders
from inventory import Inventory
from orders.outbox_worker import OutboxWorker, order_row

ORDERS = 20_000


async def one_run(inv: Inventory, url: str, n: int) -> tuple[float, float]:
    """(worker orders/s, bare INSERT rows/s) for one database."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())
    sid = f"ob{os.urandom(3).hex()}"
    await inv.load_stock(sid, "i1", add=n, price_cents=100)
    await inv.open_sale(sid, "i1")
    await asyncio.gather(*(inv.reserve(sid, "i1", f"u{k}", 1, "r") for k in range(n)))
    entries = await inv.redis.xrange(f"{{s:{sid}}}:outbox")
    rows = [order_row(fields) for _, fields in entries]

    worker = OutboxWorker(inv.redis, engine, consumer="bench", batch=500)
    t0 = time.perf_counter()
    drained = 0
    while drained < n:
        drained += await worker.drain_once()
    drain_s = time.perf_counter() - t0

    async with engine.begin() as conn:
        await conn.execute(orders.delete())
    t0 = time.perf_counter()
    for start in range(0, len(rows), 500):  # the worker's batch size, one transaction each
        async with engine.begin() as conn:
            await conn.execute(orders.insert(), rows[start:start + 500])
    bare_s = time.perf_counter() - t0
    await inv.redis.srem("linli:outboxes", f"{{s:{sid}}}:outbox")
    await engine.dispose()
    return n / drain_s, n / bare_s


async def main(runs: int = 3) -> None:
    tmp = tempfile.TemporaryDirectory(prefix="linli-outbox-")
    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        server = EmbeddedRedis(Path(tmp.name))
        url = await server.start()
    inv = Inventory(redis_client(url))
    await inv.redis.delete("linli:outboxes")
    targets = {"sqlite": f"sqlite+aiosqlite:///{tmp.name}/outbox.db"}
    if os.environ.get("LINLI_BENCH_PG"):
        targets["postgresql"] = normalize_database_url(os.environ["LINLI_BENCH_PG"])
    print(f"outbox drain: {ORDERS:,} orders per run, batches of 500, median of {runs} runs")
    try:
        for name, db in targets.items():
            await migrate(db)
            results = [await one_run(inv, db, ORDERS) for _ in range(runs)]
            worker = statistics.median(r[0] for r in results)
            bare = statistics.median(r[1] for r in results)
            print(f"  {name:10} worker {worker:9,.0f} orders/s   bare INSERT {bare:9,.0f} rows/s   ratio {worker / bare:.2f}x")
    finally:
        await inv.redis.aclose()
        if server:
            await server.stop()
        tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
