"""The scheduler's jobs (APScheduler 3.x, in the process's own event loop), run by one process at a time.

Every `linli scheduler` and `linli serve` campaigns for one lease in Redis; only its holder runs
the jobs, the others stand by and take over within a lease after it dies (infra/leader.py). The
jobs would survive running twice anyway (docs/operations.md, "Several processes"): the lease keeps
them from doing the same work twice, it is not what keeps the data right.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from crowdfund.api import add_jobs as add_crowdfund_jobs
from infra import metrics
from infra.leader import SCHEDULER_LEASE, Leadership, leading
from infra.resources import Resources
from orders.api import add_pickup_jobs, reconcile_all
from stream.api import Live


def build_scheduler(res: Resources) -> AsyncIOScheduler:
    """A scheduler holding every room's periodic jobs, not yet started."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_listener(_count_store_error, EVENT_JOB_ERROR)
    scheduler.add_job(reconcile_all, "interval", args=[res], minutes=1, id="reconcile",
                      max_instances=1, coalesce=True, replace_existing=True)
    add_pickup_jobs(scheduler, res)
    add_crowdfund_jobs(scheduler, Live.build(res.redis, res.engine), hold_warning_min=res.settings.hold_warning_min)
    return scheduler


def _count_store_error(event: JobExecutionEvent) -> None:
    # APScheduler logs a failed job with its traceback; the metric counts the Redis and SQL ones.
    metrics.store_error(event.exception, "scheduler")


async def run_jobs(res: Resources) -> None:
    """Run the jobs until cancelled; jobs in flight are cancelled with it (APScheduler's asyncio executor)."""
    scheduler = build_scheduler(res)
    scheduler.start()
    try:
        await asyncio.Event().wait()
    finally:
        scheduler.shutdown(wait=False)


@asynccontextmanager
async def running_scheduler(res: Resources) -> AsyncIterator[Leadership]:
    """Campaign for the scheduler's lease while the block runs; the jobs run here only while it is ours."""
    # A private Redis has one supervising process per data folder (a file lock), so a lease found
    # there is a SIGKILLed predecessor's: take it at once rather than wait for it to run out.
    async with leading(res.redis, SCHEDULER_LEASE, res.settings.scheduler_lease_ms, lambda: run_jobs(res),
                       seize=res.embedded_redis is not None) as lead:
        yield lead
