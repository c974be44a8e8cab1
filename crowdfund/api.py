"""The crowdfunding room's public face: what the app, its tools and other rooms may use."""

from crowdfund.aggregate import Aggregation, Catalog, Product, Tier, aggregate
from crowdfund.commands import aggregate_cmd, chain
from crowdfund.cutoff import aggregate_window, run_cutoff
from crowdfund.jobs import add_jobs
from crowdfund.routes import routes

__all__ = [
    "Aggregation", "Catalog", "Product", "Tier", "add_jobs", "aggregate", "aggregate_cmd", "aggregate_window",
    "chain", "routes", "run_cutoff",
]
