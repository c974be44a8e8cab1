"""The host: one user who runs the live session over HTTP, flash sale after flash sale, and lucky bags."""

from __future__ import annotations

import time
from typing import Any

from locust import FastHttpUser, constant, task
from locust.exception import StopUser

from loadtest.live_setup import PASSPHRASE, record, token
from loadtest.run_files import BAGS_FILE

BAG = {"title": "福袋", "winners": 5, "countdown_s": 10, "passphrase": PASSPHRASE, "min_watch_s": 3,
       "prize_points": 10}
BAG_FIRST_AFTER_S = 2.0
BAG_EVERY_S = 20.0


class Host(FastHttpUser):
    """The host's script over HTTP: pin and flash the items one after another; a lucky bag every ~20 s."""

    fixed_count = 1
    wait_time = constant(1)

    def on_start(self) -> None:
        self.opts = self.environment.parsed_options
        if not self.opts.session_id:
            raise StopUser()
        self.sid = self.opts.session_id
        self.headers = {"Authorization": f"Bearer {token(self.opts, 'loadtest-host', 'host')}"}
        self.flash = self.opts.scenario in ("flash", "mixed")
        self.bags = self.opts.scenario in ("luckybag", "mixed")
        self.flashed: list[str] = []
        self.next_bag = time.monotonic() + BAG_FIRST_AFTER_S

    def _call(self, method: str, path: str, name: str, body: Any = None) -> Any:
        resp = self.client.request(method, f"/api/sessions/{self.sid}{path}", name=f"/api/sessions/[sid]{name}",
                                   headers=self.headers, json=body)
        return resp.json() if resp.status_code in (200, 201) else None

    @task
    def tick(self) -> None:
        """Start a lucky bag when one is due, then keep a flash sale going."""
        if self.bags and time.monotonic() >= self.next_bag:
            self.next_bag += BAG_EVERY_S
            bag = self._call("POST", "/lucky-bags", "/lucky-bags", BAG)
            if bag:
                record(self.opts, BAGS_FILE, bag["id"])
        if self.flash:
            self._next_flash()

    def _next_flash(self) -> None:
        session = self._call("GET", "", "")
        if session is None:
            return
        items = {i["id"]: i for i in session["items"]}
        current = items.get(self.flashed[-1]) if self.flashed else None
        if current and current["on_sale"] and current["left"] > 0:
            return  # the sale is still on
        fresh = [iid for iid, i in items.items() if iid not in self.flashed and i["left"] > 0]
        if fresh:
            iid = fresh[0]
        else:
            # Every item has had its sale: put another one up, as a host does when the room is hot.
            item = self._call("POST", "/items", "/items", {
                "title": f"加场{len(items) + 1}", "price_cents": 990, "stock": self.opts.stock,
                "per_user_limit": self.opts.per_user_limit, "unit": "份"})
            if item is None:
                return
            iid = item["id"]
        self.flashed.append(iid)
        self._call("POST", f"/items/{iid}/pin", "/items/[iid]/pin")
        self._call("POST", f"/items/{iid}/flash", "/items/[iid]/flash", {"duration_s": self.opts.flash_s})
