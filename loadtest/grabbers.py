"""Grabbers: residents who tap "grab" on every item on sale; acknowledged orders go to a run file."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import gevent
from gevent.event import AsyncResult, Event
from locust import constant, task

from loadtest.live_setup import record
from loadtest.room_user import (
    ANSWER_TIMEOUT_S,
    Answer,
    RoomUser,
    WsError,
    answer_within,
)
from loadtest.run_files import ORDERS_FILE


class Grabber(RoomUser):
    """Grabs items on sale, with a think time per tap, until they sell out or hit the limit."""

    weight = 3
    wait_time = constant(0)

    def on_start(self) -> None:
        self.on_sale: set[str] = set()
        self.done: set[str] = set()  # sold out or at the per-user limit: the button is greyed out
        self.sale_seen = Event()
        self.pending: dict[str, AsyncResult[Answer]] = {}
        super().on_start()

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.on_sale = {i["id"] for i in snapshot["items"] if i["on_sale"] and i["left"] > 0}
        self.sale_seen.set()

    def on_event(self, event: dict[str, Any], length: int) -> None:
        match event["type"]:
            case "flash_started" if event["left"] > 0:
                self.on_sale.add(event["item_id"])
                self.sale_seen.set()
            case "flash_ended":
                self.on_sale.discard(event["item_id"])
            case "stock" if event["left"] <= 0:
                self.on_sale.discard(event["item_id"])
            case "grab_result" | "error" if event.get("request_id") in self.pending:
                self.pending[event["request_id"]].set((event, length))

    @task
    def grab(self) -> None:
        """Tap one item that is on sale and still open to this user, or wait up to 1 s for a sale."""
        self.sale_seen.clear()
        if not self.on_sale - self.done:
            self.sale_seen.wait(1)
            return
        gevent.sleep(random.uniform(0.2, 1.5))  # a person reads the price and taps
        choices = sorted(self.on_sale - self.done)
        if choices:
            self._grab(random.choice(choices))

    def _grab(self, iid: str) -> None:
        rid = str(uuid.uuid4())
        frame = {"type": "grab", "item_id": iid, "qty": 1, "request_id": rid}
        slot = self.pending[rid] = AsyncResult()
        started = time.perf_counter()
        try:
            # No answer in 5 s: send the same request id once more (it can only be answered once).
            for _attempt in range(2):
                self.send(frame)
                try:
                    answer, length = answer_within(slot)
                    break
                except gevent.Timeout:
                    continue
            else:
                self.report("grab", started, exc=WsError(f"no grab_result within {2 * ANSWER_TIMEOUT_S:.0f}s"))
                return
        finally:
            del self.pending[rid]
        if answer["type"] == "error":
            self.report("grab", started, length, exc=WsError(f"{answer['code']}: {answer['message']}"))
            return
        self.report("grab", started, length)
        if answer["ok"]:
            record(self.opts, ORDERS_FILE, answer["order_id"])
        elif answer["reason"] in ("sold_out", "limit", "not_enough"):
            self.done.add(iid)
        else:
            self.on_sale.discard(iid)
