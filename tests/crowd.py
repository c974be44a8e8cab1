"""A crowd of grabbing residents for fault tests: each taps, waits for its answer, and keeps
tapping; when its connection drops it reconnects (to whichever web process answers), checks the
fresh snapshot against what it was told, and asks again with the same request id.

Every grab a grabber started is answered before it stops, so the acknowledged grabs are exactly
the orders the sale made: the tests compare them with SQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live import bearer

RETRY_CODES = {"unavailable", "rate_limited"}  # the grab did not run, or may not have: ask again


@dataclass
class Grabber:
    user: str
    token: str
    sid: str
    iid: str
    bases: list[str]  # ws://host:port of every web process, the preferred one first
    pace_s: float = 0.25
    acked: dict[str, str] = field(default_factory=dict)  # request id -> order id
    refused: Counter[str] = field(default_factory=Counter)  # grab_result reasons (sold_out ...)
    errors: Counter[str] = field(default_factory=Counter)  # error frame codes
    reconnects: int = 0
    resync_misses: int = 0  # acknowledged orders missing from a fresh snapshot
    ws: ClientConnection | None = None

    async def _connect(self, give_up_at: float) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            base = self.bases[attempt % len(self.bases)]
            attempt += 1
            try:
                ws = await connect(f"{base}/ws/sessions/{self.sid}", additional_headers=bearer(self.token),
                                   open_timeout=10, max_size=2**22)
                snapshot = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if snapshot.get("type") != "snapshot":
                    self.errors[snapshot.get("code", snapshot.get("type", "?"))] += 1
                    await ws.close()
                    raise OSError("no snapshot")
            except (OSError, TimeoutError, InvalidStatus, ConnectionClosed):
                if loop.time() > give_up_at:
                    raise
                await asyncio.sleep(0.2)
                continue
            mine = {o["id"] for o in snapshot.get("orders", [])}
            self.resync_misses += len(set(self.acked.values()) - mine)
            self.ws = ws
            return

    async def _answer(self, rid: str) -> dict[str, Any] | None:
        """Send the grab and read until its answer; None when the connection dropped first."""
        assert self.ws is not None
        try:
            await self.ws.send(json.dumps({"type": "grab", "item_id": self.iid, "qty": 1, "request_id": rid}))
            while True:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
                if frame.get("request_id") == rid and frame["type"] in ("grab_result", "error"):
                    return frame  # type: ignore[no-any-return]
        except (ConnectionClosed, OSError, TimeoutError):
            with contextlib.suppress(Exception):
                await self.ws.close()
            self.ws = None
            return None

    async def grab(self, rid: str, give_up_at: float) -> None:
        """One grab, asked again (same request id) until it has an answer."""
        while True:
            if self.ws is None:
                if self.acked or self.reconnects or self.errors:
                    self.reconnects += 1
                await self._connect(give_up_at)
            frame = await self._answer(rid)
            if frame is None:
                continue
            if frame["type"] == "error":
                self.errors[frame["code"]] += 1
                if frame["code"] in RETRY_CODES and asyncio.get_running_loop().time() < give_up_at:
                    await asyncio.sleep(0.3)
                    continue
                return
            if frame["ok"]:
                self.acked[rid] = frame["order_id"]
            else:
                self.refused[frame["reason"]] += 1
            return

    async def run(self, stop: asyncio.Event, finish_within_s: float = 90) -> None:
        n = 0
        await self._connect(asyncio.get_running_loop().time() + finish_within_s)
        while not stop.is_set():
            await self.grab(f"{self.user}-{n}", asyncio.get_running_loop().time() + finish_within_s)
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.pace_s)
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


@dataclass
class Crowd:
    grabbers: list[Grabber]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def start(cls, grabbers: list[Grabber]) -> Crowd:
        crowd = cls(grabbers)
        crowd.tasks = [asyncio.create_task(g.run(crowd.stop)) for g in grabbers]
        return crowd

    def acked(self) -> dict[str, str]:
        return {rid: oid for g in self.grabbers for rid, oid in g.acked.items()}

    async def until_acked(self, count: int, within_s: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + within_s
        while len(self.acked()) < count:
            for task in self.tasks:
                if task.done() and task.exception():
                    raise task.exception()  # type: ignore[misc]
            assert asyncio.get_running_loop().time() < deadline, f"only {len(self.acked())} of {count} acknowledged"
            await asyncio.sleep(0.1)

    async def finish(self) -> None:
        """Stop tapping; every grab in flight is answered first."""
        self.stop.set()
        await asyncio.gather(*self.tasks)

    def errors(self) -> Counter[str]:
        return sum((g.errors for g in self.grabbers), Counter())

    def report(self) -> dict[str, object]:
        return {"grabbers": len(self.grabbers), "acknowledged": len(self.acked()),
                "reconnects": sum(g.reconnects for g in self.grabbers),
                "error_frames": dict(self.errors()),
                "refused": dict(sum((g.refused for g in self.grabbers), Counter())),
                "resync_misses": sum(g.resync_misses for g in self.grabbers)}
