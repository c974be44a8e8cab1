"""Benchmark: aggregating 50,000 residents x 10 wish lines into supplier orders, next to a
bare SQL GROUP BY over the same rows, in the same run.

    python -m bench.aggregate [runs]   # or: linli bench aggregate
                                       # SQLite under a temporary folder, or DATABASE_URL
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import median, sql_engine, sql_url, temp_folder
from crowdfund.api import Catalog, Product, Tier, aggregate_window
from infra.tables import (
    communities,
    live_sessions,
    metadata,
    pickup_points,
    products,
    suppliers,
    wish_lines,
    wish_windows,
)

RESIDENTS, LINES, PRODUCTS, POINTS = 50_000, 10, 200, 20


def catalog(rng: random.Random) -> Catalog:
    """PRODUCTS products with mixed case sizes, MOQs and capacities, about a quarter of them short."""
    return Catalog(products=[
        Product(id=f"p{n}", name=f"产品{n}", supplier_id=f"s{n % 12}", unit="斤", case_size=rng.choice([1, 5, 10, 12]),
                moq=rng.choice([0, 100, 1_000, 30_000]), capacity=rng.choice([5_000, 50_000, 50_000, 1_000_000]),
                tiers=[Tier(min_qty=0, price_cents=500), Tier(min_qty=5_000, price_cents=450)])
        for n in range(PRODUCTS)])


async def seed(engine: AsyncEngine, cat: Catalog, rng: random.Random) -> None:
    """An empty database but for one open wish window with RESIDENTS x LINES wish lines."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())
        await conn.execute(communities.insert().values(id="c", name="c", created_at=now))
        await conn.execute(live_sessions.insert().values(id="s", community_id="c", title="t", status="draft",
                                                         created_by="h", created_at=now))
        await conn.execute(wish_windows.insert().values(id="w", session_id="s", community_id="c", opens_at=now,
                                                        cutoff_at=now + timedelta(days=1),
                                                        live_at=now + timedelta(days=1),
                                                        hold_release_at=now + timedelta(days=2), status="open"))
        await conn.execute(pickup_points.insert(), [{"id": f"pp{n}", "community_id": "c", "name": "x", "address": ""}
                                                    for n in range(POINTS)])
        await conn.execute(suppliers.insert(), [{"id": f"s{n}", "name": "x"} for n in range(12)])
        await conn.execute(products.insert(), [{
            "id": p.id, "supplier_id": p.supplier_id, "name": p.name, "unit": p.unit, "case_size": p.case_size,
            "moq": p.moq, "capacity": p.capacity, "lead_time_hours": 12, "aliases": "[]",
            "tiers": '[{"min_qty": 0, "price_cents": 500}, {"min_qty": 5000, "price_cents": 450}]'}
            for p in cat.products])
        rows = [{"window_id": "w", "resident_id": f"r{r}", "product_id": f"p{rng.randrange(PRODUCTS)}",
                 "qty": rng.randint(1, 5), "pickup_point_id": f"pp{rng.randrange(POINTS)}", "entered_by": f"r{r}",
                 "source": "app", "status": "active", "created_at": now, "updated_at": now}
                for r in range(RESIDENTS) for _ in range(LINES)]
        for start in range(0, len(rows), 20_000):
            await conn.execute(wish_lines.insert(), rows[start:start + 20_000])


async def bare_group_by(engine: AsyncEngine) -> float:
    """Seconds for the baseline: the sums per (product, pickup point) and nothing else."""
    t0 = time.perf_counter()
    async with engine.connect() as conn:
        (await conn.execute(sa.select(wish_lines.c.product_id, wish_lines.c.pickup_point_id,
                                      sa.func.sum(wish_lines.c.qty))
                            .where(wish_lines.c.window_id == "w", wish_lines.c.status == "active")
                            .group_by(wish_lines.c.product_id, wish_lines.c.pickup_point_id))).all()
    return time.perf_counter() - t0


async def ours(engine: AsyncEngine, cat: Catalog) -> float:
    """Seconds for the window's aggregation into supplier orders."""
    t0 = time.perf_counter()
    async with engine.connect() as conn:
        await aggregate_window(conn, "w", cat)
    return time.perf_counter() - t0


async def main(runs: int = 3) -> None:
    """Run the benchmark and print its figures."""
    with temp_folder("linli-agg-") as tmp:
        async with sql_engine(sql_url(tmp, "bench.db")) as engine:
            rng = random.Random(1)
            cat = catalog(rng)
            t0 = time.perf_counter()
            await seed(engine, cat, rng)
            seeded = time.perf_counter() - t0
            bare, agg = [], []
            for _ in range(runs):
                bare.append(await bare_group_by(engine))
                agg.append(await ours(engine, cat))
    b, a = median(bare), median(agg)
    print(f"aggregation: {RESIDENTS:,} residents x {LINES} wish lines = {RESIDENTS * LINES:,} rows, "
          f"{PRODUCTS} products, {POINTS} pickup points, {engine.dialect.name}, median of {runs} runs "
          f"(seeding took {seeded:.1f}s)")
    print(f"  bare SQL GROUP BY (product, pickup point)   {b * 1e3:8.0f} ms")
    print(f"  aggregation into supplier orders           {a * 1e3:8.0f} ms   ratio {a / b:.2f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
