"""Benchmark: orders/s the outbox worker drains from Redis into SQL, next to a bare batched
INSERT of the same rows into the same database, in the same run.

    python -m bench.outbox            # or: linli bench outbox
                                      # SQLite; and PostgreSQL when LINLI_BENCH_PG is a URL
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import cast

from bench.common import median, redis_url, sql_engine, sqlite_url, temp_folder
from infra.db import migrate
from infra.resources import redis_client
from infra.settings import normalize_database_url
from infra.tables import metadata, orders

# keys: the outbox stream and the worker's registry of outboxes are inventory's key names.
from inventory import Inventory, outbox
from orders.api import OutboxWorker, order_row

ORDERS = 20_000
BATCH = 500  # the worker's batch, and the bare INSERT's rows per transaction


async def one_run(inv: Inventory, url: str, n: int) -> tuple[float, float]:
    """(worker orders/s, bare INSERT rows/s) for one database."""
    async with sql_engine(url, migrate_first=False) as engine:
        async with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
        sid = f"ob{os.urandom(3).hex()}"
        await inv.load_stock(sid, "i1", add=n, price_cents=100)
        await inv.open_sale(sid, "i1")
        await asyncio.gather(*(inv.reserve(sid, "i1", f"u{k}", 1, "r") for k in range(n)))
        entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", await inv.redis.xrange(outbox.outbox_key(sid)))
        rows = [order_row(outbox.decode_entry(fields)) for _, fields in entries]  # type: ignore[arg-type]

        worker = OutboxWorker(inv.redis, engine, consumer="bench", batch=BATCH)
        t0 = time.perf_counter()
        drained = 0
        while drained < n:
            drained += await worker.drain_once()
        drain_s = time.perf_counter() - t0

        async with engine.begin() as conn:
            await conn.execute(orders.delete())
        t0 = time.perf_counter()
        for start in range(0, len(rows), BATCH):  # one transaction each, as the worker commits
            async with engine.begin() as conn:
                await conn.execute(orders.insert(), rows[start:start + BATCH])
        bare_s = time.perf_counter() - t0
        await inv.redis.srem(outbox.REGISTRY, outbox.outbox_key(sid))
    return n / drain_s, n / bare_s


async def main(runs: int = 3) -> None:
    """Run the benchmark and print its figures."""
    with temp_folder("linli-outbox-") as tmp:
        async with redis_url(tmp) as url:
            inv = Inventory(redis_client(url))
            try:
                await inv.redis.delete(outbox.REGISTRY)
                targets = {"sqlite": sqlite_url(tmp, "outbox.db")}
                if os.environ.get("LINLI_BENCH_PG"):
                    targets["postgresql"] = normalize_database_url(os.environ["LINLI_BENCH_PG"])
                print(f"outbox drain: {ORDERS:,} orders per run, batches of {BATCH}, median of {runs} runs")
                for name, db in targets.items():
                    await migrate(db)
                    results = [await one_run(inv, db, ORDERS) for _ in range(runs)]
                    worker = median(r[0] for r in results)
                    bare = median(r[1] for r in results)
                    print(f"  {name:10} worker {worker:9,.0f} orders/s   bare INSERT {bare:9,.0f} rows/s   "
                          f"ratio {worker / bare:.2f}x")
            finally:
                await inv.redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
