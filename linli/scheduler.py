"""The scheduler process's jobs (APScheduler 3.x, in the process's own event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from crowdfund.api import add_jobs as add_crowdfund_jobs
from infra.resources import Resources
from orders.api import add_pickup_jobs, reconcile_all
from stream.api import Live


@asynccontextmanager
async def running_scheduler(res: Resources) -> AsyncIterator[AsyncIOScheduler]:
    """Start the scheduler with every room's periodic jobs; shut it down on exit."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(reconcile_all, "interval", args=[res], minutes=1, id="reconcile",
                      max_instances=1, coalesce=True, replace_existing=True)
    add_pickup_jobs(scheduler, res)
    add_crowdfund_jobs(scheduler, Live.build(res.redis, res.engine), hold_warning_min=res.settings.hold_warning_min)
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)
