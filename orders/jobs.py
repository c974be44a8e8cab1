"""Background jobs of the orders room: the outbox worker task, periodic reconciliation, and the
pickup jobs (placing orders due for collection, expiring pickups not collected in time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from apscheduler.schedulers.base import BaseScheduler

from infra.resources import Resources
from infra.tasks import cancel_and_wait
from inventory import Inventory, outbox
from orders.outbox_worker import OutboxWorker
from orders.pickups import expire_due, place_orders
from orders.reconcile import Reconciliation, reconcile

log = logging.getLogger(__name__)

STOP_GRACE_S = 10


@asynccontextmanager
async def running_outbox_worker(res: Resources) -> AsyncIterator[OutboxWorker]:
    """Drain the outboxes in a background task for as long as the context is open."""
    worker = OutboxWorker(res.redis, res.engine, batch=res.settings.worker_batch,
                          claim_idle_ms=res.settings.worker_claim_idle_ms,
                          wait_replicas=res.settings.wait_replicas)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="outbox-worker")
    try:
        yield worker
    finally:
        stop.set()
        # A pass stuck on a store that stopped answering must not hold the process's shutdown:
        # cancelling is safe, as entries not yet acknowledged stay pending and are written again.
        _, running = await asyncio.wait({task}, timeout=STOP_GRACE_S)
        if running:
            log.warning("the outbox worker did not stop within %s s; cancelling it", STOP_GRACE_S)
        await cancel_and_wait(task)


async def reconcile_all(res: Resources) -> list[Reconciliation]:
    """Reconcile every session with an outbox; log each difference found while nothing is in flight."""
    inventory = Inventory(res.redis)
    results = []
    for stream in sorted(await res.redis.smembers(outbox.REGISTRY)):
        result = await reconcile(inventory, res.engine, outbox.session_of(stream))
        if result.differences and not result.in_flight:
            log.error("reconciliation: session %s differs: %s", result.session_id, result.differences)
        results.append(result)
    return results


async def place_due(res: Resources) -> int:
    """Place the orders due for collection at their pickup points (idempotent; any process may run it)."""
    placed = await place_orders(res.engine)
    if placed:
        log.info("placed %d orders at their pickup points", placed)
    return placed


async def expire_pickups(res: Resources) -> int:
    """Expire the ready pickups past their time, so the community office sees them."""
    expired = await expire_due(res.engine)
    if expired:
        log.info("%d pickups expired", expired)
    return expired


def add_pickup_jobs(scheduler: BaseScheduler, res: Resources) -> None:
    """Placement every 10 s, expiry every minute; each job at most once at a time in this process."""
    scheduler.add_job(place_due, "interval", args=[res], seconds=10, id="place-orders", max_instances=1,
                      coalesce=True, replace_existing=True)
    scheduler.add_job(expire_pickups, "interval", args=[res], minutes=1, id="expire-pickups", max_instances=1,
                      coalesce=True, replace_existing=True)
