"""Background jobs of the orders room: the outbox worker task and periodic reconciliation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from infra.resources import Resources
from inventory import Inventory, outbox
from orders.outbox_worker import OutboxWorker
from orders.reconcile import Reconciliation, reconcile

log = logging.getLogger(__name__)


@asynccontextmanager
async def running_outbox_worker(res: Resources) -> AsyncIterator[OutboxWorker]:
    """Drain the outboxes in a background task for as long as the context is open."""
    worker = OutboxWorker(res.redis, res.engine, batch=res.settings.worker_batch,
                          claim_idle_ms=res.settings.worker_claim_idle_ms)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="outbox-worker")
    try:
        yield worker
    finally:
        stop.set()
        await task


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
