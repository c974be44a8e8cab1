"""Stopping background tasks for sure."""

from __future__ import annotations

import asyncio
from typing import Any

NUDGE_S = 1.0


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks and wait until each has ended, cancelling again every second one goes on.

    One cancellation is not always enough: on Python 3.11, a cancellation arriving as an
    ``asyncio.timeout`` inside a library call expires comes out as a TimeoutError, which a loop that
    retries on OSError then swallows and carries on. Waiting on such a task once hung a
    shutdown for good."""
    pending = {task for task in tasks if task is not None and not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=NUDGE_S)
    for ended in tasks:
        if ended is not None and not ended.cancelled() and (exc := ended.exception()) is not None:
            raise exc  # what a plain ``await task`` would have raised
