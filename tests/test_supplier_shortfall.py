"""A supplier delivers fewer units than ordered, and units that come free go to partly held wishes first."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from crowdfund.cutoff import release_unconfirmed_holds
from crowdfund.remainders import fill_remainders
from infra.settings import Settings
from infra.tables import wish_windows
from linli.app import create_app
from stream.api import LIVE, Live
from tests.live import SECRET, Api, token

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
FARM = token("farm1", "supplier", None)
DAY = 24 * 3600 * 1000


class World:
    def __init__(self, api: Api, live: Live) -> None:
        self.api = api
        self.live = live


@pytest.fixture
async def world(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[World]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings, worker=True)) as server, aiohttp.ClientSession() as http:
        yield World(Api(http, str(server.make_url("")).rstrip("/")), server.app[LIVE])


async def _closed_window(api: Api, capacity: int, wishes: list[tuple[str, int, str]]) -> tuple[str, str]:
    """红薯 in cases of 10 (MOQ 10, ``capacity``), the wishes in this order, the window closed: (session, window)."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    for pid in ("p1", "p2"):
        await api.ok("POST", "/api/communities/c1/pickup-points", OPERATOR, {"id": pid, "name": f"自提点{pid}"})
    for who in ("a", "b", "c"):
        await api.ok("POST", "/api/communities/c1/residents", OPERATOR, {"id": who, "name": f"居民{who}"})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    await api.ok("POST", "/api/products", FARM, {
        "id": "hongshu", "supplier_id": "farm1", "name": "红薯", "unit": "斤", "case_size": 10, "moq": 10,
        "capacity": capacity, "tiers": [{"min_qty": 0, "price_cents": 400}]})
    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"}))["id"]
    now = int(time.time() * 1000)
    wid = (await api.ok("POST", "/api/wish-windows", HOST,
                        {"session_id": sid, "live_at": now + 2 * DAY, "cutoff_at": now + DAY}))["id"]
    for who, qty, point in wishes:
        await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token(who),
                     {"product_id": "hongshu", "qty": qty, "pickup_point_id": point})
    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    return sid, wid


async def _outcome(api: Api, wid: str, who: str) -> dict[str, Any]:
    (line,) = (await api.ok("GET", f"/api/wish-windows/{wid}/wishes", token(who)))["wishes"]
    outcome: dict[str, Any] = line["outcome"]
    return outcome


async def _left(live: Live, sid: str) -> tuple[int, int]:
    (item,) = (await live.inventory.snapshot(sid)).values()
    return item.left, item.sold


async def _notices(api: Api, who: str, kind: str) -> list[dict[str, Any]]:
    return [n for n in (await api.ok("GET", "/api/notices", token(who)))["notices"] if n["kind"] == kind]


async def test_a_shortfall_takes_the_surplus_first_then_the_latest_holds(world: World) -> None:
    """40 ordered (35 wished, 5 surplus), 22 confirmed: the 5 surplus go, then 13 from the latest
    wishes: c (8, last) loses all, b (15) keeps 10, a (first) keeps 12; each is told once."""
    api, live = world.api, world.live
    sid, wid = await _closed_window(api, 100, [("a", 12, "p1"), ("b", 15, "p2"), ("c", 8, "p1")])
    assert await _left(live, sid) == (5, 35)
    (order,) = (await api.ok("GET", "/api/supplier/orders", FARM))["orders"]
    step = await api.ok("POST", f"/api/supplier/orders/{order['id']}/confirm", FARM,
                        {"lines": [{"product_id": "hongshu", "confirmed_qty": 22}]})
    assert step["status"] == "confirmed"
    assert step["shortfall"] == [{"product_id": "hongshu", "order_qty": 40, "confirmed_qty": 22, "from_surplus": 5,
                                  "from_holds": 13, "holds_cut": 2, "uncovered": 0}]
    assert await _left(live, sid) == (0, 22)

    a, b, c = [await _outcome(api, wid, who) for who in ("a", "b", "c")]
    assert (a["status"], a["held_qty"]) == ("held", 12)
    assert (b["status"], b["code"], b["held_qty"], b["params"]["held_before"]) == ("partly_held", "supplier_short",
                                                                                   10, 15)
    assert (c["status"], c["code"], c["held_qty"], c["order_id"]) == ("shortfall", "supplier_short", 0, None)
    b_orders = {o["id"]: o for o in await live.inventory.orders_of(sid, "b")}
    assert b_orders[b["order_id"]]["qty"] == 10 and b_orders[b["order_id"]]["status"] == "reserved"
    assert [o["status"] for o in b_orders.values() if o["id"] != b["order_id"]] == ["released"]

    (told_b,) = await _notices(api, "b", "supplier_short")
    assert (told_b["params"]["held_before"], told_b["params"]["held_qty"]) == (15, 10)
    (told_c,) = await _notices(api, "c", "supplier_short")
    assert told_c["params"]["held_qty"] == 0 and told_c["params"]["order_id"] is None
    assert await _notices(api, "a", "supplier_short") == []

    (order,) = (await api.ok("GET", "/api/supplier/orders", FARM))["orders"]
    (line,) = order["lines"]
    assert (line["order_qty"], line["confirmed_qty"], line["surplus_qty"], line["total_cents"]) == (40, 22, 0, 8800)
    assert line["by_pickup_point"] == {"p1": 12, "p2": 10} and order["total_cents"] == 8800

    again = await api.ok("POST", f"/api/supplier/orders/{order['id']}/confirm", FARM,
                         {"lines": [{"product_id": "hongshu", "confirmed_qty": 10}]})
    assert again["status"] == "confirmed" and again["shortfall"] == []
    assert await _left(live, sid) == (0, 22) and len(await _notices(api, "b", "supplier_short")) == 1


async def test_a_confirmed_hold_is_kept_and_a_cut_that_needs_it_is_refused(world: World) -> None:
    """c confirmed her hold: a cut below what is confirmed is 409 below_committed; otherwise the cut
    passes her by and takes from the next latest unconfirmed hold."""
    api, live = world.api, world.live
    sid, wid = await _closed_window(api, 100, [("a", 12, "p1"), ("b", 15, "p2"), ("c", 8, "p1")])
    c = await _outcome(api, wid, "c")
    assert await live.inventory.confirm_hold(sid, c["order_id"], "c") == "confirmed"
    (order,) = (await api.ok("GET", "/api/supplier/orders", FARM))["orders"]
    url = f"/api/supplier/orders/{order['id']}/confirm"
    for body, status in (({"lines": [{"product_id": "hongshu", "confirmed_qty": 5}]}, 409),
                         ({"lines": [{"product_id": "hongshu", "confirmed_qty": 41}]}, 400),
                         ({"lines": [{"product_id": "yadan", "confirmed_qty": 1}]}, 400),
                         ({"lines": [{"product_id": "hongshu", "confirmed_qty": 20, "note": "x"}]}, 400)):
        got, answer = await api.call("POST", url, FARM, body)
        assert got == status, answer
    got, answer = await api.call("POST", url, FARM, {"lines": [{"product_id": "hongshu", "confirmed_qty": 5}]})
    assert answer["error"]["code"] == "below_committed" and "8斤" in answer["error"]["message"]
    assert (await api.ok("GET", "/api/supplier/orders", FARM))["orders"][0]["status"] == "pending"

    step = await api.ok("POST", url, FARM, {"lines": [{"product_id": "hongshu", "confirmed_qty": 22}]})
    assert step["shortfall"][0]["holds_cut"] == 1
    a, b, c2 = [await _outcome(api, wid, who) for who in ("a", "b", "c")]
    assert (a["held_qty"], b["held_qty"], c2["held_qty"]) == (12, 2, 8)
    assert c2["order_id"] == c["order_id"] and await _left(live, sid) == (0, 22)


async def test_units_that_come_free_go_to_confirmed_partly_held_wishes_first(world: World) -> None:
    """Capacity 30 for 45 wished: a 20, b 10 of 15, c nothing. b confirms, a does not; the release
    frees a's 20 and gives b her missing 5 first (confirmed); the other 15 stay on sale."""
    api, live = world.api, world.live
    sid, wid = await _closed_window(api, 30, [("a", 20, "p1"), ("b", 15, "p2"), ("c", 10, "p1")])
    b = await _outcome(api, wid, "b")
    assert (b["status"], b["held_qty"]) == ("partly_held", 10)
    assert (await _outcome(api, wid, "c"))["status"] == "shortfall"
    assert await live.inventory.confirm_hold(sid, b["order_id"], "b") == "confirmed"
    assert await fill_remainders(live, wid) == 0  # nothing is free yet
    async with live.engine.begin() as conn:
        await conn.execute(wish_windows.update().where(wish_windows.c.id == wid)
                           .values(hold_release_at=datetime.now(UTC) - timedelta(seconds=1)))
    # The release hands the freed units to b before the open sale sees them.
    assert await release_unconfirmed_holds(live, wid) == 1
    assert await fill_remainders(live, wid) == 0  # b is whole now; a and c have no hold to extend
    assert await _left(live, sid) == (15, 15)
    b = await _outcome(api, wid, "b")
    assert (b["status"], b["code"], b["held_qty"], b["params"]["added_qty"]) == ("held", "remainder_filled", 15, 5)
    b_orders = await live.inventory.orders_of(sid, "b")
    assert sorted((o["qty"], o["status"]) for o in b_orders) == [(5, "confirmed"), (10, "confirmed")]
    (told,) = await _notices(api, "b", "remainder_filled")
    assert (told["params"]["added_qty"], told["params"]["held_qty"]) == (5, 15)
    async with live.engine.connect() as conn:
        assert await conn.scalar(sa.select(wish_windows.c.status).where(wish_windows.c.id == wid)) == "released"
