"""Deterministic input for timing the pure aggregation: a catalog and wishes in submission order."""

from __future__ import annotations

import random

from crowdfund.aggregate import Catalog, Product, Tier, Wish


def make_bench_input(residents: int = 50_000, lines_per_resident: int = 10, products: int = 200,
                     pickup_points: int = 20, seed: int = 1) -> tuple[Catalog, list[Wish]]:
    """A catalog and residents x lines_per_resident wishes, the same for the same arguments."""
    rng = random.Random(seed)
    # About 7,500 units are wished per product at the defaults, so the MOQs and capacities below
    # leave some products not viable and make capacity bind for others: every path is timed.
    catalog = Catalog(products=[
        Product(id=f"p{n:03d}", name=f"产品{n}", supplier_id=f"s{n % 12:02d}", unit="斤",
                case_size=rng.choice([1, 5, 10, 12]), moq=rng.choice([0, 100, 1_000, 30_000]),
                capacity=rng.choice([5_000, 50_000, 50_000, 1_000_000]),
                tiers=[Tier(min_qty=0, price_cents=500), Tier(min_qty=5_000, price_cents=450)])
        for n in range(products)])
    ids = [p.id for p in catalog.products]
    points = [f"pp{n:02d}" for n in range(pickup_points)]
    wishes = [Wish(resident_id=f"r{r}", product_id=rng.choice(ids), qty=rng.randint(1, 5),
                   pickup_point_id=rng.choice(points))
              for r in range(residents) for _ in range(lines_per_resident)]
    return catalog, wishes
