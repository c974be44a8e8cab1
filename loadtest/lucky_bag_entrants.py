"""Lucky-bag entrants: residents who enter every lucky bag and note their entries and the results they hear."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import gevent
from gevent.event import AsyncResult, Event
from locust import constant, task

from loadtest.live_setup import PASSPHRASE, record
from loadtest.room_user import (
    ANSWER_TIMEOUT_S,
    Answer,
    RoomUser,
    WsError,
    answer_within,
)
from loadtest.run_files import ENTRIES_FILE, RESULTS_FILE


class LuckyBagEntrant(RoomUser):
    """Enters each lucky bag after watching its min_watch_s: by frame, or by commenting the passphrase."""

    weight = 2
    wait_time = constant(0)

    def on_start(self) -> None:
        self.todo: list[dict[str, Any]] = []
        self.seen_bags: set[str] = set()
        self.bag_seen = Event()
        self.entering: tuple[str, AsyncResult[Answer]] | None = None
        super().on_start()

    def _bag(self, bag: dict[str, Any]) -> None:
        if bag["id"] not in self.seen_bags:
            self.seen_bags.add(bag["id"])
            self.todo.append(bag)
            self.bag_seen.set()

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        for bag in snapshot["lucky_bags"]:
            if not bag["entered"]:
                self._bag(bag)

    def on_event(self, event: dict[str, Any], length: int) -> None:
        match event["type"]:
            case "lucky_bag_started":
                self._bag(event["bag"])
            case "lucky_bag_result":
                # Residents hear masked names and, on a winner's own copy, won: never the winners' ids.
                heard = {"won": bool(event.get("won")), "names": len(event.get("winner_names", []))}
                record(self.opts, RESULTS_FILE, f"{event['bag_id']} {self.user_id} {json.dumps(heard)}")
            case "lucky_bag_entered" | "error" if self.entering is not None:
                # Bag errors carry no id, but this phone has only one entry in flight.
                if event["type"] == "error" or event["bag_id"] == self.entering[0]:
                    self.entering[1].set((event, length))

    @task
    def enter(self) -> None:
        """Enter the next bag seen once it has been watched long enough, or wait up to 1 s for one."""
        self.bag_seen.clear()
        if not self.todo:
            self.bag_seen.wait(1)
            return
        bag = self.todo.pop(0)
        gevent.sleep(bag["min_watch_s"] + random.uniform(0.2, 1.5))
        if time.time() * 1000 > bag["draw_at"] - 500:
            return  # joined too late to have watched long enough before the draw
        if bag["needs_passphrase"] and random.random() < 0.5:
            name, frame = "enter_lucky_bag:comment", {"type": "comment", "text": PASSPHRASE}
        else:
            name, frame = "enter_lucky_bag", {"type": "enter_lucky_bag", "bag_id": bag["id"]}
            if bag["needs_passphrase"]:
                frame["passphrase"] = PASSPHRASE
        slot: AsyncResult[Answer] = AsyncResult()
        self.entering = (bag["id"], slot)
        started = time.perf_counter()
        try:
            if not self.send(frame):
                self.report(name, started, exc=WsError("connection lost"))
                return
            answer, length = answer_within(slot)
        except gevent.Timeout:
            self.report(name, started, exc=WsError(f"no answer within {ANSWER_TIMEOUT_S:.0f}s"))
            return
        finally:
            self.entering = None
        if answer["type"] == "error":
            self.report(name, started, length, exc=WsError(f"{answer['code']}: {answer['message']}"))
            return
        self.report(name, started, length)
        record(self.opts, ENTRIES_FILE, f"{bag['id']} {self.user_id}")
