"""The crowdfunding room's public face: what the app, its tools and other rooms may use."""

from crowdfund.aggregate import Aggregation, Catalog, Product, Tier, aggregate
from crowdfund.catalog import NewProduct, NewSupplier, add_product, add_supplier
from crowdfund.commands import aggregate_cmd, chain
from crowdfund.cutoff import aggregate_window, run_cutoff
from crowdfund.jobs import add_jobs
from crowdfund.routes import routes
from crowdfund.windows import NewWindow, create_window
from crowdfund.wishes import NewWish, add_wish

__all__ = [
    "Aggregation", "Catalog", "NewProduct", "NewSupplier", "NewWindow", "NewWish", "Product", "Tier", "add_jobs",
    "add_product", "add_supplier", "add_wish", "aggregate", "aggregate_cmd", "aggregate_window", "chain",
    "create_window", "routes", "run_cutoff",
]
