"""After the live: orders placed at pickup points with codes, delivered, collected once (crediting
points and the fund once), refused to the wrong staff and to guessers, expired, moved."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import distance_m
from infra.db import create_engine
from infra.settings import Settings
from infra.tables import (
    audit_log,
    fund_entries,
    live_sessions,
    notices,
    orders,
    pickups,
    points_ledger,
    session_items,
    wish_lines,
    wish_outcomes,
    wish_windows,
)
from linli.app import create_app
from orders.api import OutboxWorker, expire_due, place_orders
from tests.live import SECRET, Api, Client, token

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
ADMIN = token("admin1", "admin")
GRID = token("grid1", "grid")
OTHER_GRID = token("grid2", "grid")
STAFF1, STAFF1B, STAFF2 = token("staff1", "pickup"), token("staff1b", "pickup"), token("staff2", "pickup")
WANG, LI = token("wang"), token("li")
# Building A stands beside the pharmacy, building B beside the locker (about 1 km apart).
A, B = (31.2300, 121.4700), (31.2390, 121.4700)


class Served(Api):
    ws_base: str


@pytest.fixture
async def apps(redis, engine, tmp_path: Path, redis_url: str,
               database_url: str) -> AsyncIterator[tuple[Served, Served]]:
    """Two app instances on one Redis and one database; the first also runs the outbox worker."""
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings, worker=True)) as one, TestServer(create_app(settings)) as two, \
            aiohttp.ClientSession() as http:
        served = []
        for server in (one, two):
            client = Served(http, str(server.make_url("")).rstrip("/"))
            client.ws_base = client.base.replace("http", "ws")
            served.append(client)
        yield served[0], served[1]


@pytest.fixture
async def api(apps: tuple[Served, Served]) -> Served:
    return apps[0]


async def _community(api: Api) -> None:
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    await api.ok("POST", "/api/communities/c1/pickup-points", HOST, {
        "id": "p1", "name": "仁和药房", "address": "幸福路1号", "kind": "pharmacy", "lat": A[0], "lng": A[1],
        "hours": "08:00-21:00"})
    await api.ok("POST", "/api/communities/c1/pickup-points", HOST, {
        "id": "p2", "name": "7号楼快递柜", "address": "7号楼东门", "kind": "locker", "lat": B[0], "lng": B[1],
        "hours": "全天", "capacity": 40})
    for name, (lat, lng) in (("1号楼", A), ("7号楼", B)):
        await api.ok("POST", "/api/communities/c1/buildings", HOST, {"name": name, "lat": lat, "lng": lng})
    await api.ok("POST", "/api/communities/c1/residents", GRID, {"id": "wang", "name": "王玉香", "building": "1号楼"})
    await api.ok("POST", "/api/communities/c1/residents", HOST, {"id": "li", "name": "李建国", "building": "7号楼"})
    for staff, point in (("staff1", "p1"), ("staff1b", "p1"), ("staff2", "p2")):
        await api.ok("POST", "/api/communities/c1/pickup-staff", HOST, {"user_id": staff, "pickup_point_id": point})


async def _live_item(api: Api, *, price: int = 2800, stock: int = 20) -> tuple[str, str]:
    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六助农直播", "community_id": "c1"}))["id"]
    iid = (await api.ok("POST", f"/api/sessions/{sid}/items", HOST, {
        "title": "海鸭蛋", "price_cents": price, "stock": stock, "per_user_limit": 5, "unit": "盒"}))["id"]
    await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
    await api.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 120})
    return sid, iid


async def _grab(api: Served, sid: str, iid: str, tok: str, qty: int = 1, rid: str = "g1") -> str:
    client = await Client.join(api.ws_base, sid, tok)
    await client.send({"type": "grab", "item_id": iid, "qty": qty, "request_id": rid})
    result = await client.wait_for(lambda e: e["type"] == "grab_result")
    await client.close()
    assert result["ok"], result
    return str(result["order_id"])


async def _until(check: Any, within_s: float = 10) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def _my_order(api: Api, tok: str, oid: str) -> dict[str, Any] | None:
    mine = (await api.ok("GET", "/api/me/orders", tok))["orders"]
    return next((o for o in mine if o["id"] == oid), None)


async def _counts(engine: AsyncEngine) -> dict[str, Any]:
    """Everything the pickup routes may change, to show a refused call changed nothing."""
    async with engine.connect() as conn:
        return {
            "pickups": sorted(tuple(r) for r in await conn.execute(sa.select(
                pickups.c.id, pickups.c.status, pickups.c.active_code, pickups.c.pickup_point_id))),
            "orders": sorted(tuple(r) for r in await conn.execute(sa.select(
                orders.c.id, orders.c.status, orders.c.pickup_id, orders.c.pickup_point_id))),
            "points": sorted(tuple(r) for r in await conn.execute(sa.select(points_ledger.c.id))),
            "fund": sorted(tuple(r) for r in await conn.execute(sa.select(fund_entries.c.id))),
            "audit": int(await conn.scalar(sa.select(sa.func.count()).select_from(audit_log)) or 0),
        }


async def test_a_grab_is_placed_delivered_and_collected_crediting_points_and_fund_once(
        api: Served, engine: AsyncEngine, redis: Any) -> None:
    """Grab (real reserve path, outbox worker) -> placed at the nearest point with a code -> handover ->
    delivery (ready, notice) -> collect: points and fund credited once; the same code again is 409."""
    await _community(api)
    sid, iid = await _live_item(api, price=2850)
    oid = await _grab(api, sid, iid, WANG, qty=2)
    await _until(lambda: _my_order(api, WANG, oid))
    assert await place_orders(engine) == 1
    assert await place_orders(engine) == 0  # idempotent

    mine = await _my_order(api, WANG, oid)
    assert mine is not None
    code = mine["pickup_code"]
    assert mine["pickup_point_id"] == "p1" and len(code) == 6 and code.isdigit()  # 1号楼 stands beside p1
    assert (mine["status"], mine["title"], mine["pickup_point_name"], mine["pickup_point_hours"]) == \
        ("reserved", "海鸭蛋", "仁和药房", "08:00-21:00")
    assert mine["pickup_qr"] == f"linli:pickup:p1:{code}" and mine["proxy_by"] is None
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api.base}/api/me/orders/{oid}/qr.svg", headers={"Authorization": f"Bearer {WANG}"}) as r:
            assert r.status == 200 and r.content_type == "image/svg+xml" and "<svg" in await r.text()
    status, _ = await api.call("GET", f"/api/me/orders/{oid}/qr.svg", LI)
    assert status == 404  # someone else's order

    handover = await api.ok("GET", f"/api/pickup-points/p1/handover?session={sid}", STAFF1)
    assert handover["items"] == [{"session_id": sid, "item_id": iid, "title": "海鸭蛋", "qty": 2}]
    (pickup,) = handover["pickups"]
    assert (pickup["code"], pickup["name"], pickup["status"]) == (code, "王*香", "waiting")
    assert (await api.ok("GET", f"/api/pickup-points/p1/handover?session={sid}", HOST))["pickups"][0]["code"] == code
    assert (await api.call("GET", "/api/pickup-points/p1/handover", STAFF2))[0] == 403

    delivered = await api.ok("POST", "/api/pickup-points/p1/deliveries", STAFF1, {"session_id": sid})
    assert (delivered["pickups"], delivered["orders"]) == (1, 1)
    days = (delivered["expires_at"] - time.time() * 1000) / 86_400_000
    assert 2.99 < days <= 3  # the community's pickup_days
    assert (await api.ok("POST", "/api/pickup-points/p1/deliveries", STAFF1, {"session_id": sid}))["pickups"] == 0
    mine = await _my_order(api, WANG, oid)
    assert mine is not None and mine["status"] == "ready" and mine["pickup_code"] == code
    inbox = (await api.ok("GET", "/api/notices", WANG))["notices"]
    assert [(n["kind"], n["params"]["code"], n["link"]) for n in inbox] == [("pickup_ready", code, "/orders")]

    collected = await api.ok("POST", "/api/pickup-points/p1/collect", STAFF1, {"code": code})
    assert [o["id"] for o in collected["orders"]] == [oid] and collected["pickup"]["name"] == "王*香"
    assert (collected["points"], collected["fund_cents"]) == (57, 570)  # 57 yuan, 10% of 5700 cents
    again = await api.call("POST", "/api/pickup-points/p1/collect", STAFF1, {"code": code})
    assert again[0] == 409 and again[1]["error"]["code"] == "already_collected"
    async with engine.connect() as conn:
        ledger = (await conn.execute(sa.select(points_ledger.c.id, points_ledger.c.user_id, points_ledger.c.points)))
        assert [tuple(r) for r in ledger] == [(f"collected:{oid}", "wang", 57)]
        fund = await conn.execute(sa.select(fund_entries.c.id, fund_entries.c.amount_cents))
        assert [tuple(r) for r in fund] == [(f"order:{oid}", 570)]
    mine = await _my_order(api, WANG, oid)
    assert mine is not None and mine["status"] == "collected" and mine["pickup_code"] is None
    assert mine["collected_at"] is not None and mine["pickup_qr"] is None

    # A late outbox entry for the order (a hold's release, replayed) never moves it back from collected.
    late = {"event": "released", "order": oid, "session": sid, "item": iid, "user": "wang", "qty": "2",
            "price": "2850", "kind": "grab", "rid": "g1", "ts": "1", "changed_ts": str(int(time.time() * 1000)),
            "why": "replayed"}
    await OutboxWorker(redis, engine).write([(b"1-1", {k.encode(): v.encode() for k, v in late.items()})])
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(orders.c.status).where(orders.c.id == oid)) == "collected"
