"""The orders room's public face: what the app and other rooms may use."""

from orders.jobs import reconcile_all, running_outbox_worker
from orders.outbox_worker import OutboxWorker, order_row
from orders.reconcile import Reconciliation, reconcile
from orders.routes import routes

__all__ = ["OutboxWorker", "Reconciliation", "order_row", "reconcile", "reconcile_all", "routes",
           "running_outbox_worker"]
