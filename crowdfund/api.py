"""The crowdfunding room's public face: what the app, its tools and other rooms may use."""

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.aggregate import Aggregation, Catalog, Product, Tier, aggregate
from crowdfund.catalog import NewProduct, NewSupplier, add_product, add_supplier
from crowdfund.commands import aggregate_cmd, chain
from crowdfund.cutoff import aggregate_window, run_cutoff
from crowdfund.jobs import add_jobs
from crowdfund.routes import routes
from crowdfund.windows import NewWindow, create_window
from crowdfund.wishes import NewWish, add_wish
from infra.tables import wish_lines, wish_outcomes


async def hold_pickup_points(engine: AsyncEngine, order_ids: Collection[str]) -> dict[str, str]:
    """The pickup point each hold goes to: its wish line's (the first line, if several made one hold);
    orders that are no hold are left out."""
    wanted = sorted(set(order_ids))
    found: dict[str, str] = {}
    async with engine.connect() as conn:
        for start in range(0, len(wanted), 500):  # under every database's bound-parameter limit
            rows = await conn.execute(
                sa.select(wish_outcomes.c.order_id, wish_lines.c.pickup_point_id)
                .join(wish_lines, wish_lines.c.id == wish_outcomes.c.wish_line_id)
                .where(wish_outcomes.c.order_id.in_(wanted[start:start + 500]))
                .order_by(wish_outcomes.c.wish_line_id.desc()))
            found.update((r.order_id, r.pickup_point_id) for r in rows)  # the first line is written last
    return found

__all__ = [
    "Aggregation", "Catalog", "NewProduct", "NewSupplier", "NewWindow", "NewWish", "Product", "Tier", "add_jobs",
    "add_product", "add_supplier", "add_wish", "aggregate", "aggregate_cmd", "aggregate_window", "chain",
    "create_window", "hold_pickup_points", "routes", "run_cutoff",
]
