"""The orders room's public face: what the app and other rooms may use."""

from orders.jobs import add_pickup_jobs, expire_pickups, place_due, reconcile_all, running_outbox_worker
from orders.outbox_worker import OutboxWorker, order_row
from orders.pickups import expire_due, place_orders
from orders.reconcile import Reconciliation, reconcile
from orders.routes import routes

__all__ = ["OutboxWorker", "Reconciliation", "add_pickup_jobs", "expire_due", "expire_pickups", "order_row",
           "place_due", "place_orders", "reconcile", "reconcile_all", "routes", "running_outbox_worker"]
