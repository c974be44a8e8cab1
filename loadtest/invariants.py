"""The checks after a load test: nothing oversold, no acknowledged grab or bag entry lost, bags drawn fairly.

They read the server only through its public HTTP API, with a host token minted from the
server's secret, plus the run files the locust users wrote into the report directory.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import ProxyHandler, Request, build_opener

from infra.auth import issue_token
from loadtest.run_files import (
    BAGS_FILE,
    ENTRIES_FILE,
    ORDERS_FILE,
    RESULTS_FILE,
    SESSION_FILE,
    read_lines,
)

ORDERS_WAIT_S = 10.0  # how long the outbox worker may take to bring SQL up to date
DRAW_WAIT_S = 10.0  # how long after draw_at a bag may take to show as drawn
_http = build_opener(ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class Check:
    """One invariant's outcome; ok is None when the scenario has nothing to check."""

    name: str
    ok: bool | None
    detail: str


class Api:
    """A JSON client of the server under test, with one token."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def get(self, path: str) -> Any:
        """GET ``path`` and decode its JSON body."""
        req = Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        with _http.open(req, timeout=30) as resp:
            return json.loads(resp.read())


def session_orders(api: Api, sid: str) -> list[dict[str, Any]]:
    """Every order of the session in SQL, page after page."""
    orders: list[dict[str, Any]] = []
    after = None
    while True:
        page = api.get(f"/api/sessions/{sid}/orders?limit=500" + (f"&after={after}" if after else ""))
        orders += page["orders"]
        after = page.get("next_after")
        if not after:
            return orders


def check_stock(api: Api, sid: str, stock: int) -> tuple[Check, list[dict[str, Any]]]:
    """No unit oversold: per item, SQL orders' units <= stock loaded, and units left + sold == loaded."""
    deadline = time.monotonic() + ORDERS_WAIT_S
    while True:
        items = api.get(f"/api/sessions/{sid}")["items"]
        orders = session_orders(api, sid)
        sold: Counter[str] = Counter()
        for order in orders:
            if order["status"] != "cancelled":
                sold[order["item_id"]] += order["qty"]
        bad = [f"{i['id']}: loaded {stock}, sold {sold[i['id']]}, left {i['left']}"
               for i in items if sold[i["id"]] > stock or i["left"] + sold[i["id"]] != stock]
        # Until the outbox worker catches up, SQL may hold fewer orders than Redis has sold.
        if not bad or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    detail = (f"{len(items)} items: {sum(sold.values())} of {stock * len(items)} units sold "
              f"in {len(orders)} orders, left + sold == loaded")
    return Check("no unit oversold", not bad, "; ".join(bad) if bad else detail), orders


def check_acked(orders: list[dict[str, Any]], acked: list[str], grabbers: bool) -> Check:
    """Every grab answered ok has its order in SQL."""
    name = "every acknowledged grab has an order"
    if not grabbers:
        return Check(name, None, "no grabbers in this scenario")
    acked_ids, order_ids = set(acked), {o["id"] for o in orders}
    missing = sorted(acked_ids - order_ids)
    if missing:
        return Check(name, False, f"{len(missing)} of {len(acked_ids)} missing, e.g. {missing[:5]}")
    if not acked_ids:
        return Check(name, False, "no grab was acknowledged, so nothing was checked")
    return Check(name, True, f"{len(acked_ids)} acknowledged grabs, all in SQL")


def _wait_drawn(api: Api, sid: str, bid: str) -> dict[str, Any]:
    while True:
        bag: dict[str, Any] = api.get(f"/api/sessions/{sid}/lucky-bags/{bid}")
        if bag["status"] == "drawn" or time.time() * 1000 > bag["draw_at"] + DRAW_WAIT_S * 1000:
            return bag
        time.sleep(0.5)


def check_bags(api: Api, sid: str, report_dir: Path, entrants_expected: bool) -> list[Check]:
    """Each bag drawn once by the published rule from its entrants; every acknowledged entry counted."""
    names = ("lucky bags drawn once with valid winners", "every acknowledged bag entry counted")
    bag_ids = read_lines(report_dir, BAGS_FILE)
    if not bag_ids:
        return [Check(n, None if not entrants_expected else False, "no lucky bag was started") for n in names]
    heard: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in read_lines(report_dir, RESULTS_FILE):
        bid, user, winners = line.split(" ", 2)
        heard[bid].append((user, winners))
    acked = [tuple(line.split()) for line in read_lines(report_dir, ENTRIES_FILE)]
    problems: list[str] = []
    lost: list[str] = []
    totals: Counter[str] = Counter()
    for bid in bag_ids:
        bag = _wait_drawn(api, sid, bid)
        entrants, winners = bag["entrants"], bag["winners"]
        # The published rule (docs/reliability.md), recomputed here on its own: with no draw options,
        # min(winners, entrants) distinct winners, the entrants by SHA-256(seed:user), then by id.
        ranked = sorted(set(entrants), key=lambda u: (hashlib.sha256(f"{bag['seed']}:{u}".encode()).hexdigest(), u))
        if bag["status"] != "drawn":
            problems.append(f"{bid} is {bag['status']} after its draw time")
        elif len(set(winners)) != len(winners) or not set(winners) <= set(entrants):
            problems.append(f"{bid}: winners {winners} repeat or are not entrants")
        elif len(winners) != min(bag["winner_count"], len(entrants)) or winners != ranked[:len(winners)]:
            problems.append(f"{bid}: {len(winners)} winners of {len(entrants)} entrants, not the published rule")
        users = [u for u, _ in heard[bid]]
        results = [json.loads(h) for _, h in heard[bid]]
        # Each viewer hears one result, naming as many winners as were drawn, and won exactly when drawn.
        if len(users) != len(set(users)) or any(
                r["names"] != len(winners) or r["won"] != (u in winners) for u, r in zip(users, results, strict=True)):
            problems.append(f"{bid}: viewers heard more than one result, or other winners")
        lost += [f"{bid}/{u}" for b, u in acked if b == bid and u not in set(entrants)]
        totals.update(entrants=len(entrants), winners=len(winners), heard=len(heard[bid]))
    entries = len(acked)
    return [
        Check(names[0], not problems, "; ".join(problems) or (
            f"{len(bag_ids)} bags, {totals['entrants']} entrants, {totals['winners']} winners; "
            f"{totals['heard']} results heard, each once and the same")),
        Check(names[1], not lost and (entries > 0 or not entrants_expected),
              f"{len(lost)} of {entries} lost, e.g. {lost[:5]}" if lost
              else f"{entries} acknowledged entries, all among the entrants"),
    ]


def check_invariants(url: str, secret: str, report_dir: Path, scenario: str) -> list[Check]:
    """Every invariant, through the HTTP API and the files the users wrote."""
    room = json.loads((report_dir / SESSION_FILE).read_text())
    sid = room["session_id"]
    api = Api(url, issue_token(secret, user_id="loadtest-check", role="host",
                               community_id=room["community_id"], ttl_s=3600))
    stock, orders = check_stock(api, sid, room["stock"])
    acked = check_acked(orders, read_lines(report_dir, ORDERS_FILE), scenario in ("flash", "mixed"))
    return [stock, acked, *check_bags(api, sid, report_dir, scenario in ("luckybag", "mixed"))]
