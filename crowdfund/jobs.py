"""The scheduler's crowdfunding jobs: cutoffs at their time, hold reminders and releases, and
catch-up at start.

Each window gets a date job at its cutoff. A sync job, every few seconds, schedules windows
created since and runs anything overdue, so a cutoff that passed while no scheduler was
running is done as soon as one starts, and none is done twice (the window's status decides).
The same sync reminds residents of unconfirmed holds ``hold_warning_min`` minutes before their
release, once per hold (the notice's dedupe key decides).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from crowdfund.cutoff import release_unconfirmed_holds, run_cutoff
from crowdfund.telling import DEFAULT_WARNING_MIN, warn_release_soon
from crowdfund.windows import due_windows, upcoming_cutoffs
from infra.tables import wish_windows
from stream.api import Live

log = logging.getLogger(__name__)
SYNC_EVERY_S = 5


async def _holds_due(engine: AsyncEngine, now: datetime) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(wish_windows.c.id).where(
            wish_windows.c.status == "aggregated", wish_windows.c.hold_release_at <= now))
        return [r.id for r in rows]


async def run_due(live: Live, hold_warning_min: int = DEFAULT_WARNING_MIN) -> list[str]:
    """Every overdue cutoff, hold reminder and hold release, now; returns the windows cut off or released."""
    now = datetime.now(UTC)
    done = []
    for wid in await due_windows(live.engine, now):
        try:
            if await run_cutoff(live, wid, now):
                done.append(wid)
        except Exception:  # one window's failure must not stop the others; it is retried next sync
            log.exception("cutoff of window %s failed", wid)
    for wid in await _holds_due(live.engine, now):
        try:
            await release_unconfirmed_holds(live, wid, now)
            done.append(wid)
        except Exception:
            log.exception("hold release of window %s failed", wid)
    try:
        await warn_release_soon(live, now, hold_warning_min)
    except Exception:  # a reminder that failed is tried again at the next sync
        log.exception("hold reminders failed")
    return done


async def sync(live: Live, scheduler: AsyncIOScheduler, hold_warning_min: int = DEFAULT_WARNING_MIN) -> None:
    """Run what is overdue and give every open window a date job at its cutoff."""
    await run_due(live, hold_warning_min)
    for wid, cutoff_at in await upcoming_cutoffs(live.engine):
        if cutoff_at > datetime.now(UTC) and scheduler.get_job(f"cutoff:{wid}") is None:
            scheduler.add_job(run_due, "date", run_date=cutoff_at, args=[live, hold_warning_min], id=f"cutoff:{wid}",
                              misfire_grace_time=None, coalesce=True)


def add_jobs(scheduler: AsyncIOScheduler, live: Live, *, hold_warning_min: int = DEFAULT_WARNING_MIN) -> None:
    """Register the crowdfunding jobs; the first sync runs as soon as the scheduler starts."""
    scheduler.add_job(sync, "interval", seconds=SYNC_EVERY_S, args=[live, scheduler, hold_warning_min],
                      id="crowdfund-sync", next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
                      replace_existing=True)
