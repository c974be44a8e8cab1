"""Holds stay visible and follow the live room; what the cutoff and the release do reaches the
viewers connected then (stock, personal frames) and every wisher (notices, kept for later)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from crowdfund.cutoff import release_unconfirmed_holds
from crowdfund.jobs import run_due
from infra.settings import Settings
from infra.tables import wish_windows
from linli.app import create_app
from stream.api import LIVE, Live
from tests.live import SECRET, Api, Client, token

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
GRID = token("grid1", "grid")
FARM = token("farm1", "supplier", None)
DAY = 24 * 3600 * 1000
LI, ZHAO, MA = token("li"), token("zhao"), token("ma")

SWEET_POTATO = {"id": "hongshu", "supplier_id": "farm1", "name": "红薯", "unit": "斤", "case_size": 10, "moq": 30,
                "capacity": 100, "tiers": [{"min_qty": 0, "price_cents": 400}]}
MILLET = {"id": "mi", "supplier_id": "farm1", "name": "小米", "unit": "斤", "case_size": 10, "moq": 10,
          "capacity": 20, "tiers": [{"min_qty": 0, "price_cents": 800}]}
DUCK_EGGS = {"id": "yadan", "supplier_id": "farm1", "name": "海鸭蛋", "unit": "盒", "case_size": 1, "moq": 20,
             "capacity": 500, "tiers": [{"min_qty": 0, "price_cents": 2800}]}


class Served(Api):
    ws_base: str
    live: Live


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Served]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings, worker=True)) as server, aiohttp.ClientSession() as http:
        client = Served(http, str(server.make_url("")).rstrip("/"))
        client.ws_base = client.base.replace("http", "ws")
        client.live = server.app[LIVE]
        yield client


async def _setup(api: Served, *products: dict[str, Any]) -> tuple[str, str]:
    """A community with residents li, zhao and ma, a supplier's products, a session and its open window."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    await api.ok("POST", "/api/communities/c1/pickup-points", HOST, {"id": "p1", "name": "仁和药房"})
    for rid, name in (("li", "李爱荣"), ("zhao", "赵桂兰"), ("ma", "马建国")):
        await api.ok("POST", "/api/communities/c1/residents", GRID, {"id": rid, "name": name})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    for product in products:
        await api.ok("POST", "/api/products", OPERATOR, product)
    session = await api.ok("POST", "/api/sessions", HOST, {"title": "周六助农直播", "community_id": "c1"})
    now = int(time.time() * 1000)
    window = await api.ok("POST", "/api/wish-windows", HOST, {
        "session_id": session["id"], "live_at": now + 2 * DAY, "cutoff_at": now + DAY})
    return session["id"], window["id"]


async def _wish(api: Served, wid: str, tok: str, qty: int, product: str = "hongshu") -> None:
    await api.ok("POST", f"/api/wish-windows/{wid}/wishes", tok, {"product_id": product, "qty": qty,
                                                                   "pickup_point_id": "p1"})


async def _outcomes(api: Served, wid: str, tok: str) -> dict[str, dict[str, Any]]:
    wishes = (await api.ok("GET", f"/api/wish-windows/{wid}/wishes", tok))["wishes"]
    return {w["product_id"] or w["free_text"]: w["outcome"] for w in wishes}


async def _until(check: Callable[[], Awaitable[bool]], within_s: float = 10) -> None:
    """Wait for something the outbox worker writes a moment after the live room acts."""
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def _release_time_passed(api: Served, wid: str) -> None:
    async with api.live.engine.begin() as conn:
        await conn.execute(wish_windows.update().where(wish_windows.c.id == wid)
                           .values(hold_release_at=datetime.now(UTC) - timedelta(seconds=1)))


async def test_a_confirmed_hold_is_still_there_after_a_reconnect(api: Served) -> None:
    """confirm_hold -> hold_confirmed; the next snapshot still lists the hold, confirmed."""
    sid, wid = await _setup(api, SWEET_POTATO)
    await _wish(api, wid, LI, 30)
    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    li = await Client.join(api.ws_base, sid, LI)
    (hold,) = li.of_type("snapshot")[0]["holds"]
    assert hold["status"] == "reserved" and hold["qty"] == 30
    await li.send({"type": "confirm_hold", "order_id": hold["id"]})
    await li.wait_for(lambda e: e["type"] == "hold_confirmed")
    await li.close()

    again = await Client.join(api.ws_base, sid, LI)
    snapshot = again.of_type("snapshot")[0]
    assert [(h["id"], h["status"], h["qty"]) for h in snapshot["holds"]] == [(hold["id"], "confirmed", 30)]
    assert snapshot["orders"] == [] and snapshot["hold_release_at"] > int(time.time() * 1000)
    await again.close()


async def test_viewers_at_the_cutoff_and_the_release_see_stock_holds_and_notices(api: Served) -> None:
    """Connected through the cutoff: everyone gets the stock after the holds, each wisher her own
    hold_placed and notice, nobody else's; at the release the same for the holds that went back."""
    sid, wid = await _setup(api, SWEET_POTATO)
    await _wish(api, wid, LI, 12)
    await _wish(api, wid, ZHAO, 20)
    li, zhao, ma = [await Client.join(api.ws_base, sid, tok) for tok in (LI, ZHAO, MA)]
    li_again = await Client.join(api.ws_base, sid, LI)  # a second phone of the same resident

    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    # 32 wished -> 4 cases = 40 loaded, 32 held: every viewer ends on 8 left.
    for viewer in (li, zhao, ma, li_again):
        added = await viewer.wait_for(lambda e: e["type"] == "item_added")
        iid = added["item"]["id"]
        await viewer.wait_for(lambda e, iid=iid: e["type"] == "stock" and e["item_id"] == iid and e["left"] == 8)
    for viewer, qty in ((li, 12), (zhao, 20), (li_again, 12)):
        placed = await viewer.wait_for(lambda e: e["type"] == "hold_placed")
        assert placed["hold"]["qty"] == qty and placed["hold"]["status"] == "reserved" and placed["release_at"] > 0
        notice = (await viewer.wait_for(lambda e: e["type"] == "notice"))["notice"]
        assert notice["kind"] == "wish_held" and notice["link"] == f"/wishes/{wid}"
        assert notice["params"]["held_qty"] == qty and notice["params"]["product"] == "红薯"
    await asyncio.sleep(0.3)
    assert not ma.of_type("hold_placed") and not ma.of_type("notice")
    assert len(li.of_type("hold_placed")) == 1 and len(li.of_type("notice")) == 1

    li_hold = li.of_type("hold_placed")[0]["hold"]
    await li.send({"type": "confirm_hold", "order_id": li_hold["id"]})
    await li.wait_for(lambda e: e["type"] == "hold_confirmed")
    await _release_time_passed(api, wid)
    assert await release_unconfirmed_holds(api.live, wid) == 1
    gone = await zhao.wait_for(lambda e: e["type"] == "hold_released")
    assert (gone["qty"], gone["reason"]) == (20, "not_confirmed")
    told = await zhao.wait_for(lambda e: e["type"] == "notice" and e["notice"]["kind"] == "hold_released")
    assert told["notice"]["params"]["qty"] == 20
    for viewer in (li, zhao, ma):
        await viewer.wait_for(lambda e: e["type"] == "stock" and e["left"] == 28)
    await asyncio.sleep(0.3)
    assert not li.of_type("hold_released") and not ma.of_type("hold_released")
    for viewer in (li, zhao, ma, li_again):
        await viewer.close()


async def test_the_wish_page_follows_the_hold(api: Served) -> None:
    """A held line's hold goes reserved -> confirmed when kept, reserved -> released (not_confirmed)
    when the release time passes unconfirmed."""
    sid, wid = await _setup(api, SWEET_POTATO)
    await _wish(api, wid, LI, 12)
    await _wish(api, wid, ZHAO, 20)
    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    mine = (await _outcomes(api, wid, LI))["hongshu"]
    assert mine["status"] == "held" and mine["hold"]["status"] == "reserved" and mine["hold"]["release_at"] > 0

    li = await Client.join(api.ws_base, sid, LI)
    await li.send({"type": "confirm_hold", "order_id": mine["order_id"]})
    await li.wait_for(lambda e: e["type"] == "hold_confirmed")
    await li.close()

    async def li_confirmed() -> bool:
        return bool((await _outcomes(api, wid, LI))["hongshu"]["hold"]["status"] == "confirmed")
    await _until(li_confirmed)

    await _release_time_passed(api, wid)
    await release_unconfirmed_holds(api.live, wid)

    async def zhao_released() -> bool:
        return bool((await _outcomes(api, wid, ZHAO))["hongshu"]["hold"]["status"] == "released")
    await _until(zhao_released)
    assert (await _outcomes(api, wid, ZHAO))["hongshu"]["hold"]["why"] == "not_confirmed"
    assert (await _outcomes(api, wid, LI))["hongshu"]["hold"]["status"] == "confirmed"


async def test_outcomes_carry_codes_and_an_offline_wisher_finds_her_notices(api: Served) -> None:
    """Each outcome has its code and params; residents who were never in the room read a notice
    per line in GET /api/notices, newest first, and mark them read."""
    _, wid = await _setup(api, MILLET, DUCK_EGGS)
    # Millet: capacity 20 binds; filled in submission order: li 15, zhao 5 of 10, ma none.
    await _wish(api, wid, LI, 15, "mi")
    await _wish(api, wid, ZHAO, 10, "mi")
    await _wish(api, wid, MA, 5, "mi")
    await _wish(api, wid, LI, 3, "yadan")
    await api.ok("POST", f"/api/wish-windows/{wid}/wishes", LI,
                 {"free_text": "土鸡蛋", "qty": 2, "pickup_point_id": "p1"})
    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)

    li = await _outcomes(api, wid, LI)
    assert (li["mi"]["code"], li["mi"]["params"], li["mi"]["wished_qty"]) == (
        "held", {"held_qty": 15, "unit": "斤"}, 15)
    assert (li["yadan"]["code"], li["yadan"]["params"]) == (
        "not_viable", {"wished_qty": 3, "moq": 20, "missing_qty": 17, "unit": "盒"})
    assert li["yadan"]["hold"] is None and "20" in li["yadan"]["reason"]
    assert (li["土鸡蛋"]["code"], li["土鸡蛋"]["params"]) == ("not_in_catalog", {})
    zhao = (await _outcomes(api, wid, ZHAO))["mi"]
    assert (zhao["code"], zhao["params"]) == ("partly_held", {"held_qty": 5, "wished_qty": 10, "unit": "斤"})
    ma = (await _outcomes(api, wid, MA))["mi"]
    assert (ma["code"], ma["params"], ma["hold"]) == ("shortfall", {"capacity": 20, "unit": "斤"}, None)

    inbox = await api.ok("GET", "/api/notices", LI)
    assert inbox["unread"] == 3
    assert [n["kind"] for n in inbox["notices"]] == ["wish_not_in_catalog", "wish_not_viable", "wish_held"]
    held = inbox["notices"][-1]
    assert held["link"] == f"/wishes/{wid}" and held["read_at"] is None and held["user_id"] == "li"
    assert held["params"]["order_id"] == li["mi"]["order_id"] and held["params"]["product"] == "小米"
    assert [n["kind"] for n in (await api.ok("GET", "/api/notices", MA))["notices"]] == ["wish_shortfall"]
    older = await api.ok("GET", f"/api/notices?limit=1&before={inbox['notices'][0]['id']}", LI)
    assert [n["kind"] for n in older["notices"]] == ["wish_not_viable"] and older["unread"] == 3

    # Marking read: another resident's ids change nothing; then some, then all.
    assert (await api.ok("POST", "/api/notices/read", MA, {"ids": [held["id"]]}))["unread"] == 1
    assert (await api.ok("POST", "/api/notices/read", LI, {"ids": [held["id"]]}))["unread"] == 2
    assert (await api.ok("POST", "/api/notices/read", LI, {"all": True}))["unread"] == 0
    assert all(n["read_at"] for n in (await api.ok("GET", "/api/notices", LI))["notices"])
    status, body = await api.call("POST", "/api/notices/read", LI, {})
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, _ = await api.call("GET", "/api/notices?limit=x", LI)
    assert status == 400
    status, _ = await api.call("GET", "/api/notices", None)
    assert status == 401


async def test_the_release_soon_reminder_is_sent_once_per_unconfirmed_hold(api: Served) -> None:
    """Minutes before the release, the scheduler's job reminds the unconfirmed wisher once, however
    often it runs, and leaves the one who confirmed alone."""
    sid, wid = await _setup(api, SWEET_POTATO)
    await _wish(api, wid, LI, 12)
    await _wish(api, wid, ZHAO, 20)
    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    li = await Client.join(api.ws_base, sid, LI)
    (hold,) = li.of_type("snapshot")[0]["holds"]
    await li.send({"type": "confirm_hold", "order_id": hold["id"]})
    await li.wait_for(lambda e: e["type"] == "hold_confirmed")
    zhao = await Client.join(api.ws_base, sid, ZHAO)
    async with api.live.engine.begin() as conn:
        await conn.execute(wish_windows.update().where(wish_windows.c.id == wid)
                           .values(hold_release_at=datetime.now(UTC) + timedelta(minutes=5)))

    assert await run_due(api.live, hold_warning_min=3) == []  # not yet: 5 minutes left
    for _ in range(2):
        await run_due(api.live, hold_warning_min=10)
    reminder = (await zhao.wait_for(lambda e: e["type"] == "notice"))["notice"]
    assert reminder["kind"] == "hold_release_soon" and reminder["link"] == f"/live/{sid}"
    assert reminder["params"]["qty"] == 20 and reminder["params"]["release_at"] > int(time.time() * 1000)
    kinds = [n["kind"] for n in (await api.ok("GET", "/api/notices", ZHAO))["notices"]]
    assert kinds.count("hold_release_soon") == 1
    assert "hold_release_soon" not in [n["kind"] for n in (await api.ok("GET", "/api/notices", LI))["notices"]]
    await asyncio.sleep(0.2)
    assert len([e for e in zhao.of_type("notice") if e["notice"]["kind"] == "hold_release_soon"]) == 1
    for viewer in (li, zhao):
        await viewer.close()


async def test_a_release_repeated_after_a_crash_tells_each_resident_once(api: Served) -> None:
    """The release runs again (the window still aggregated, as after a crash): nobody is told twice."""
    _, wid = await _setup(api, SWEET_POTATO)
    await _wish(api, wid, ZHAO, 30)
    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    await _release_time_passed(api, wid)
    assert await release_unconfirmed_holds(api.live, wid) == 1
    async with api.live.engine.begin() as conn:
        await conn.execute(sa.update(wish_windows).where(wish_windows.c.id == wid).values(status="aggregated"))
    assert await release_unconfirmed_holds(api.live, wid) == 0
    kinds = [n["kind"] for n in (await api.ok("GET", "/api/notices", ZHAO))["notices"]]
    assert kinds == ["hold_released", "wish_held"]
