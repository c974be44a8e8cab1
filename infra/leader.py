"""Leases in Redis: one holder at a time for a named duty (the scheduler, one window's cutoff).

A lease is a key set with ``SET NX PX`` to the holder's random token. Only that token extends it
(compare-and-extend) or gives it up (compare-and-delete), so a holder that stalled past its lease
can never extend or free a lease someone else took since. A holder that dies, even by SIGKILL,
leaves the key to expire: a standby takes over within one lease plus one poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra.lua import LuaScript

log = logging.getLogger(__name__)

EXTEND = LuaScript.packaged("infra.lease_lua", "extend_lease")
RELEASE = LuaScript.packaged("infra.lease_lua", "release_lease")

SCHEDULER_LEASE = "linli:leader:scheduler"  # who runs the timed jobs (linli scheduler, linli serve)


def lease_key(duty: str) -> str:
    """The key of the lease on one named duty, e.g. ``cutoff:<window id>``."""
    return f"linli:lease:{duty}"


class Lease:
    """One holder's claim on one key; ``held`` is judged by this process's clock, never longer than Redis keeps it."""

    def __init__(self, redis: Redis, key: str, ttl_ms: int) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        # Readable in redis-cli (GET <key>): which machine and process holds it.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._until = 0.0  # monotonic time the lease surely lasts until

    @property
    def held(self) -> bool:
        """Whether the lease is ours for sure right now (its last grant or extension has not run out)."""
        return time.monotonic() < self._until

    @property
    def remaining(self) -> float:
        """Seconds the lease surely lasts from now (0 when not held)."""
        return max(0.0, self._until - time.monotonic())

    def _granted(self, asked_at: float) -> None:
        # Counted from before the request was sent: Redis started the lease later than that, so
        # this process stops believing in it no later than Redis lets it expire.
        self._until = asked_at + self.ttl_ms / 1000

    async def acquire(self, *, seize: bool = False) -> bool:
        """Take the lease if nobody holds it (SET NX PX), or whoever holds it with ``seize``; True when taken."""
        asked_at = time.monotonic()
        if await self.redis.set(self.key, self.token, nx=not seize, px=self.ttl_ms):
            self._granted(asked_at)
            return True
        return False

    async def extend(self) -> bool:
        """Extend the lease by its full length if still ours; False (and no longer held) when lost."""
        asked_at = time.monotonic()
        if await EXTEND(self.redis, [self.key], [self.token, self.ttl_ms]) == 1:
            self._granted(asked_at)
            return True
        self._until = 0.0
        return False

    async def release(self) -> None:
        """Give the lease up if still ours, so a standby need not wait for it to expire."""
        self._until = 0.0
        await RELEASE(self.redis, [self.key], [self.token])


@asynccontextmanager
async def exclusive(redis: Redis, key: str, ttl_ms: int) -> AsyncIterator[bool]:
    """Hold ``key``'s lease for the block, extended in the background; yields False (and holds nothing)
    when another holder has it. A holder that dies leaves it to expire after ``ttl_ms``."""
    lease = Lease(redis, key, ttl_ms)
    if not await lease.acquire():
        yield False
        return

    async def keep() -> None:
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            try:
                if not await lease.extend():
                    log.warning("lease %s was lost while held", key)
                    return
            except RedisError as exc:
                log.warning("lease %s could not be extended: %s", key, exc)

    keeper = asyncio.create_task(keep(), name=f"lease:{key}")
    try:
        yield True
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        with contextlib.suppress(RedisError, OSError):
            await lease.release()


class Leadership:
    """Run ``duty`` only while this process holds the lease; stand by and take over when it frees."""

    def __init__(self, lease: Lease, duty: Callable[[], Coroutine[Any, Any, None]], *, seize: bool = False) -> None:
        self.lease = lease
        self.duty = duty
        self._seize = seize  # the first campaign takes the lease from whoever holds it
        self.elected = asyncio.Event()  # set while this process leads (for tests and logs)
        self._duty_task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        """Whether the duty runs here now."""
        return self._duty_task is not None and not self._duty_task.done()

    async def run(self) -> None:
        """Campaign, lead and renew until cancelled; a third of the lease between attempts."""
        pause = self.lease.ttl_ms / 3000
        try:
            while True:
                if self.leading:
                    await self._renew()
                else:
                    await self._campaign()
                # A leader that cannot extend wakes no later than its lease runs out, to step down in time.
                await asyncio.sleep(min(pause, self.lease.remaining) if self.leading else pause)
        finally:
            await self._step_down()
            with contextlib.suppress(RedisError, OSError):
                await self.lease.release()

    async def _campaign(self) -> None:
        try:
            won = await self.lease.acquire(seize=self._seize)
            self._seize = False
        except (RedisError, OSError) as exc:
            log.warning("%s: cannot reach Redis to take the lease: %s", self.lease.key, exc)
            return
        if won:
            log.info("%s: leading (%s)", self.lease.key, self.lease.token)
            self._duty_task = asyncio.create_task(self._lead(), name=f"duty:{self.lease.key}")
            self.elected.set()

    async def _lead(self) -> None:
        try:
            await self.duty()
        except Exception:  # a broken duty gives the lease up so another process may try
            log.exception("%s: the leader's duty failed; giving the lease up", self.lease.key)
            with contextlib.suppress(RedisError, OSError):
                await self.lease.release()

    async def _renew(self) -> None:
        try:
            # A call that hangs must not carry the duty past the lease's end.
            kept = await asyncio.wait_for(self.lease.extend(), timeout=max(self.lease.remaining, 0.001))
        except (RedisError, OSError, TimeoutError) as exc:
            # Unreachable Redis: lead on while the last extension lasts (a third of the lease
            # passes between tries, so two more tries fit), then step down before it can expire.
            kept = self.lease.held
            log.warning("%s: cannot extend the lease (%s); %s", self.lease.key, exc,
                        "still within it" if kept else "stepping down")
        if not kept:
            log.warning("%s: lease lost; stepping down", self.lease.key)
            await self._step_down()

    async def _step_down(self) -> None:
        self.elected.clear()
        task, self._duty_task = self._duty_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@asynccontextmanager
async def leading(redis: Redis, key: str, ttl_ms: int, duty: Callable[[], Coroutine[Any, Any, None]], *,
                  seize: bool = False) -> AsyncIterator[Leadership]:
    """Campaign for ``key`` in the background for as long as the block runs; the winner runs ``duty``
    (cancelled when the lease is lost or the block ends), and gives the lease up on the way out.
    ``seize``: this process is the only one that may lead (its holder before it is surely dead), so it
    takes the lease at once rather than waiting for a dead holder's to run out."""
    leadership = Leadership(Lease(redis, key, ttl_ms), duty, seize=seize)
    task = asyncio.create_task(leadership.run(), name=f"campaign:{key}")
    try:
        yield leadership
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
