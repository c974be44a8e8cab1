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
    async with aiohttp.ClientSession() as http, \
            http.get(f"{api.base}/api/me/orders/{oid}/qr.svg", headers={"Authorization": f"Bearer {WANG}"}) as r:
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


async def _placed(api: Served, engine: AsyncEngine, sid: str, iid: str, tok: str, rid: str = "g1") -> tuple[str, str]:
    """A grab placed at its point: (order id, code)."""
    oid = await _grab(api, sid, iid, tok, rid=rid)
    await _until(lambda: _my_order(api, tok, oid))
    await place_orders(engine)
    mine = await _my_order(api, tok, oid)
    assert mine is not None and mine["pickup_code"]
    return oid, mine["pickup_code"]


async def test_two_staff_confirming_one_code_at_once_collect_it_once(api: Served, engine: AsyncEngine) -> None:
    """Two staff of the point send the same code together: one 200, one 409 already_collected; one credit."""
    await _community(api)
    sid, iid = await _live_item(api)
    _, code = await _placed(api, engine, sid, iid, WANG)
    answers = await asyncio.gather(*(api.call("POST", "/api/pickup-points/p1/collect", tok, {"code": code})
                                     for tok in (STAFF1, STAFF1B, STAFF1, STAFF1B)))
    assert sorted(status for status, _ in answers) == [200, 409, 409, 409]
    assert {body["error"]["code"] for status, body in answers if status == 409} == {"already_collected"}
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(points_ledger)) == 1
        assert await conn.scalar(sa.select(sa.func.count()).select_from(fund_entries)) == 1
        assert await conn.scalar(sa.select(pickups.c.collected_by)) in ("staff1", "staff1b")


async def test_staff_of_another_point_and_other_roles_are_refused(api: Served, engine: AsyncEngine) -> None:
    """p2's staff, an unbound staff member, a resident, a host and another community's staff are 403 at
    p1's counter; nothing changes."""
    await _community(api)
    sid, iid = await _live_item(api)
    _, code = await _placed(api, engine, sid, iid, WANG)
    before = await _counts(engine)
    for tok in (STAFF2, token("nobody", "pickup"), WANG, HOST, token("staff1", "pickup", "c2")):
        status, body = await api.call("POST", "/api/pickup-points/p1/collect", tok, {"code": code})
        assert status == 403, (status, body)
    assert (await api.call("POST", "/api/pickup-points/p1/deliveries", STAFF2, {"session_id": sid}))[0] == 403
    assert (await api.call("GET", "/api/pickup-points/p1/handover", WANG))[0] == 403
    assert (await api.call("POST", "/api/pickup-points/nowhere/collect", STAFF1, {"code": code}))[0] == 404
    assert await _counts(engine) == before


async def test_wrong_codes_reach_429_shared_across_two_app_instances(apps: tuple[Served, Served],
                                                                      engine: AsyncEngine) -> None:
    """Wrong codes (404 unknown_code, 400 for a bad form) alternate between two processes: the 6th is
    429 with Retry-After, and then even the right code waits; another staff member at another point is free."""
    one, two = apps
    await _community(one)
    sid, iid = await _live_item(one)
    _, code = await _placed(one, engine, sid, iid, WANG)
    wrong = "000000" if code != "000000" else "111111"
    answers = []
    for n, body in enumerate([{"code": wrong}, {"code": "12ab"}, {"code": wrong}, {"code": "1234567"},
                              {"code": wrong}]):
        answers.append(await (one if n % 2 else two).call("POST", "/api/pickup-points/p1/collect", STAFF1, body))
    assert [(s, b["error"]["code"]) for s, b in answers] == [
        (404, "unknown_code"), (400, "bad_code"), (404, "unknown_code"), (400, "bad_code"), (404, "unknown_code")]
    async with aiohttp.ClientSession() as http, \
            http.post(f"{two.base}/api/pickup-points/p1/collect", json={"code": code},
                      headers={"Authorization": f"Bearer {STAFF1}"}) as resp:
        assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
        assert (await resp.json())["error"]["code"] == "rate_limited"
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(pickups.c.status)) == "waiting"  # the right code did not collect
    # p2's staff count apart from p1's
    assert (await one.call("POST", "/api/pickup-points/p2/collect", STAFF2, {"code": wrong}))[0] == 404


async def test_the_per_point_limit_holds_across_staff_accounts(apps: tuple[Served, Served],
                                                              engine: AsyncEngine) -> None:
    """Two staff of one point guessing in turn: the point's own limit (10 a minute) stops them both."""
    one, two = apps
    await _community(one)
    statuses = []
    for n in range(11):
        staff = STAFF1 if n % 2 else STAFF1B
        statuses.append((await (one if n % 3 else two).call("POST", "/api/pickup-points/p1/collect", staff,
                                                           {"code": f"{n:06d}"}))[0])
    assert statuses == [404] * 10 + [429]


async def _session_rows(engine: AsyncEngine, sid: str, *, users: list[str], per_user: int = 1) -> list[str]:
    """A session with orders written straight into SQL, as the outbox worker leaves them."""
    now = datetime.now(UTC)
    ids = []
    async with engine.begin() as conn:
        await conn.execute(live_sessions.insert().values(id=sid, community_id="c1", title="t", status="ended",
                                                         created_by="host1", created_at=now))
        await conn.execute(session_items.insert().values(session_id=sid, id="egg", title="海鸭蛋", price_cents=100,
                                                         unit="盒", stock=1000, per_user_limit=10))
        rows = []
        for user in users:
            for n in range(per_user):
                oid = f"{sid}-{user}-{n}"
                ids.append(oid)
                rows.append({"id": oid, "session_id": sid, "item_id": "egg", "user_id": user, "qty": 1,
                             "price_cents": 100, "kind": "grab", "status": "reserved", "request_id": oid,
                             "reserved_at": now, "updated_at": now})
        await conn.execute(orders.insert(), rows)
    return ids


async def test_placement_run_twice_concurrently_makes_one_pickup_each_with_unique_codes(
        api: Served, engine: AsyncEngine, database_url: str) -> None:
    """Two placers (two engines, as two processes) at once over 150 residents: each resident's orders
    share one pickup, every order is placed once, codes are unique among the point's pickups."""
    await _community(api)
    users = [f"r{n}" for n in range(150)]
    for user in users:
        await api.ok("POST", "/api/communities/c1/residents", HOST, {"id": user, "name": "居民", "building": "1号楼"})
    ids = await _session_rows(engine, "s-many", users=users, per_user=2)
    other = create_engine(database_url)
    try:
        placed = await asyncio.gather(place_orders(engine), place_orders(other), place_orders(engine))
    finally:
        await other.dispose()
    assert sum(placed) >= len(ids)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(pickups))).all()
        assert len(rows) == 150 and {r.pickup_point_id for r in rows} == {"p1"}
        assert len({r.active_code for r in rows}) == 150 and all(len(r.active_code) == 6 for r in rows)
        placed_orders = (await conn.execute(sa.select(orders.c.user_id, orders.c.pickup_id))).all()
    assert all(pid is not None for _, pid in placed_orders)
    by_user = {user: {pid for u, pid in placed_orders if u == user} for user in users}
    assert all(len(pids) == 1 for pids in by_user.values())
    assert await place_orders(engine) == 0


async def test_a_code_is_reused_only_once_its_pickup_is_no_longer_waiting(api: Served, engine: AsyncEngine) -> None:
    """The unique constraint covers uncollected pickups only: a collected pickup's code may come back."""
    await _community(api)
    await _session_rows(engine, "s1", users=["wang", "li"])
    await api.ok("PUT", "/api/me/pickup-point", LI, {"pickup_point_id": "p1"})
    await place_orders(engine)
    async with engine.begin() as conn:
        first, second = (await conn.execute(sa.select(pickups.c.id, pickups.c.active_code)
                                            .order_by(pickups.c.id))).all()
        with pytest.raises(sa.exc.IntegrityError):
            async with conn.begin_nested():
                await conn.execute(pickups.update().where(pickups.c.id == second.id)
                                   .values(active_code=first.active_code))
    await api.ok("POST", "/api/pickup-points/p1/collect", STAFF1, {"code": first.active_code})
    async with engine.begin() as conn:
        await conn.execute(pickups.update().where(pickups.c.id == second.id).values(code=first.active_code,
                                                                                     active_code=first.active_code))


async def test_ready_pickups_expire_and_the_office_lists_them(api: Served, engine: AsyncEngine) -> None:
    """Past expires_at the job marks pickups and orders expired, clears the code; the office lists them
    with the resident's name; the code at the counter is then 409 expired."""
    await _community(api)
    sid, iid = await _live_item(api)
    oid, code = await _placed(api, engine, sid, iid, WANG)
    assert await expire_due(engine) == 0  # waiting pickups never expire
    await api.ok("POST", "/api/pickup-points/p1/deliveries", HOST, {"session_id": sid})
    assert await expire_due(engine) == 0
    assert await expire_due(engine, datetime.now(UTC) + timedelta(days=3, minutes=1)) == 1
    mine = await _my_order(api, WANG, oid)
    assert mine is not None and (mine["status"], mine["pickup_code"]) == ("expired", None)
    listed = (await api.ok("GET", "/api/communities/c1/expired-orders", ADMIN))["orders"]
    assert [(o["id"], o["user_id"], o["name"], o["pickup_point_id"], o["pickup_code"], o["qty"]) for o in listed] == \
        [(oid, "wang", "王玉香", "p1", code, 1)]
    assert listed[0]["expired_at"] > time.time() * 1000
    for tok in (WANG, STAFF1, GRID, token("host9", "host", "c2")):
        assert (await api.call("GET", "/api/communities/c1/expired-orders", tok))[0] == 403
    status, body = await api.call("POST", "/api/pickup-points/p1/collect", STAFF1, {"code": code})
    assert (status, body["error"]["code"]) == (409, "expired")


async def test_an_order_moves_to_another_point_until_it_is_ready(api: Served, engine: AsyncEngine) -> None:
    """The resident moves one order to p2: a new pickup there with its own code, the emptied p1 pickup is
    cancelled; her grid worker may move it too (in her audit log), another grid worker not; once ready, 409."""
    await _community(api)
    sid, iid = await _live_item(api)
    oid, code = await _placed(api, engine, sid, iid, WANG)
    moved = await api.ok("PATCH", f"/api/me/orders/{oid}", WANG, {"pickup_point_id": "p2"})
    assert moved["pickup_point_id"] == "p2" and moved["pickup_point_name"] == "7号楼快递柜"
    assert moved["pickup_code"] and moved["pickup_qr"] == f"linli:pickup:p2:{moved['pickup_code']}"
    async with engine.connect() as conn:
        statuses = dict((r.pickup_point_id, r.status) for r in await conn.execute(sa.select(pickups)))
        assert statuses == {"p1": "cancelled", "p2": "waiting"}
        assert await conn.scalar(sa.select(sa.func.count()).select_from(audit_log)) == 0  # her own change
    assert (await api.call("POST", "/api/pickup-points/p1/collect", STAFF1, {"code": code}))[0] in (404, 409)

    before = await _counts(engine)
    for tok, body, expected in ((OTHER_GRID, {"pickup_point_id": "p1"}, (404, "unknown_order")),
                                (LI, {"pickup_point_id": "p1"}, (404, "unknown_order")),
                                (WANG, {"pickup_point_id": "elsewhere"}, (404, "unknown_pickup_point")),
                                (WANG, {"pickup_point_id": "bad id!"}, (400, "bad_request")),
                                (WANG, {}, (400, "bad_request")),
                                (STAFF1, {"pickup_point_id": "p1"}, (403, "forbidden"))):
        status, answer = await api.call("PATCH", f"/api/me/orders/{oid}", tok, body)
        assert (status, answer["error"]["code"]) == expected, (tok, body, answer)
    assert await _counts(engine) == before

    await api.ok("PATCH", f"/api/me/orders/{oid}", GRID, {"pickup_point_id": "p1"})
    async with engine.connect() as conn:
        (entry,) = (await conn.execute(sa.select(audit_log))).all()
    assert (entry.resident_id, entry.actor_id, entry.action) == ("wang", "grid1", "pickup_point_changed")
    await api.ok("POST", "/api/pickup-points/p1/deliveries", STAFF1, {"session_id": sid})
    status, answer = await api.call("PATCH", f"/api/me/orders/{oid}", WANG, {"pickup_point_id": "p2"})
    assert (status, answer["error"]["code"]) == (409, "too_late")


async def test_the_default_point_is_her_choice_else_the_nearest_else_the_first(api: Served) -> None:
    """li (7号楼) is nearest the locker; wang chooses p2 and forgets it; someone with no building gets p1."""
    await _community(api)
    assert distance_m(*A, *B) == pytest.approx(1000, rel=0.01)
    mine = await api.ok("GET", "/api/me/pickup-point", LI)
    assert (mine["pickup_point"]["id"], mine["chosen"], mine["pickup_point"]["kind"]) == ("p2", False, "locker")
    assert (await api.ok("GET", "/api/me/pickup-point", WANG))["pickup_point"]["id"] == "p1"
    chosen = await api.ok("PUT", "/api/me/pickup-point", WANG, {"pickup_point_id": "p2"})
    assert (chosen["pickup_point"]["id"], chosen["chosen"]) == ("p2", True)
    assert (await api.ok("PUT", "/api/me/pickup-point", WANG, {"pickup_point_id": None}))["pickup_point"]["id"] == "p1"
    await api.ok("POST", "/api/communities/c1/residents", HOST, {"id": "zhou", "name": "周德明"})
    assert (await api.ok("GET", "/api/me/pickup-point", token("zhou")))["pickup_point"]["id"] == "p1"
    assert (await api.ok("GET", "/api/me/pickup-point", STAFF2))["pickup_point"]["id"] == "p2"
    status, body = await api.call("GET", "/api/me/pickup-point", token("loose", "pickup"))
    assert (status, body["error"]["code"]) == (404, "not_bound")
    points = (await api.ok("GET", "/api/communities/c1/pickup-points", LI))["pickup_points"]
    assert [(p["id"], p["kind"], p["hours"], p["capacity"]) for p in points] == \
        [("p1", "pharmacy", "08:00-21:00", None), ("p2", "locker", "全天", 40)]


async def test_a_hold_goes_to_its_wish_lines_point(api: Served, engine: AsyncEngine) -> None:
    """A hold is placed where its wish line said (p2), not at the resident's default (p1)."""
    await _community(api)
    (oid,) = await _session_rows(engine, "s-hold", users=["wang"])
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(orders.update().where(orders.c.id == oid).values(kind="hold", status="confirmed"))
        await conn.execute(wish_windows.insert().values(
            id="w1", session_id="s-hold", community_id="c1", opens_at=now, cutoff_at=now, live_at=now,
            hold_release_at=now, status="aggregated"))
        line = (await conn.execute(wish_lines.insert().values(
            window_id="w1", resident_id="wang", product_id="egg", qty=1, pickup_point_id="p2", entered_by="wang",
            source="app", status="active", created_at=now, updated_at=now))).inserted_primary_key[0]
        await conn.execute(wish_outcomes.insert().values(wish_line_id=line, window_id="w1", status="held",
                                                         held_qty=1, order_id=oid, item_id="egg"))
    assert await place_orders(engine) == 1
    mine = await _my_order(api, WANG, oid)
    assert mine is not None and mine["pickup_point_id"] == "p2" and mine["status"] == "confirmed"


async def test_a_cancelled_order_leaves_its_pickup_and_an_empty_pickup_is_cancelled(api: Served,
                                                                                    engine: AsyncEngine) -> None:
    """Of two orders in one pickup one is cancelled: it leaves; when the other goes too, the pickup is cancelled."""
    await _community(api)
    first, second = await _session_rows(engine, "s1", users=["wang"], per_user=2)
    await place_orders(engine)
    async with engine.begin() as conn:
        await conn.execute(orders.update().where(orders.c.id == first).values(status="cancelled"))
    await place_orders(engine)
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(orders.c.pickup_id).where(orders.c.id == first)) is None
        assert await conn.scalar(sa.select(pickups.c.status)) == "waiting"
    async with engine.begin() as conn:
        await conn.execute(orders.update().where(orders.c.id == second).values(status="cancelled"))
    await place_orders(engine)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(pickups.c.status, pickups.c.active_code))).one()
    assert tuple(row) == ("cancelled", None)


async def test_bad_input_is_a_clear_4xx_and_changes_nothing(api: Served, engine: AsyncEngine) -> None:
    """Each bad body or id is a 4xx with a code; the pickups, orders and ledgers stay as they were."""
    await _community(api)
    sid, iid = await _live_item(api)
    oid, _ = await _placed(api, engine, sid, iid, WANG)
    before = await _counts(engine)
    cases = [
        ("POST", "/api/pickup-points/p1/collect", STAFF1, {"code": 123456}, 400),
        ("POST", "/api/pickup-points/p1/collect", STAFF1, {}, 400),
        ("POST", "/api/pickup-points/p1/collect", STAFF1, {"code": "linli:pickup:p2:123456"}, 400),
        ("POST", "/api/pickup-points/p1/deliveries", STAFF1, {"session_id": "bad id"}, 400),
        ("POST", "/api/pickup-points/p1/deliveries", STAFF1, {}, 400),
        ("GET", "/api/pickup-points/p1/handover?session=a:b", STAFF1, None, 400),
        ("GET", "/api/pickup-points/nowhere/handover", STAFF1, None, 404),
        ("POST", "/api/communities/c1/pickup-staff", HOST, {"user_id": "x", "pickup_point_id": "nowhere"}, 404),
        ("POST", "/api/communities/c1/pickup-staff", HOST, {"user_id": "x"}, 400),
        ("POST", "/api/communities/c1/pickup-staff", WANG, {"user_id": "x", "pickup_point_id": "p1"}, 403),
        ("POST", "/api/communities/c2/pickup-staff", HOST, {"user_id": "x", "pickup_point_id": "p1"}, 403),
        ("POST", "/api/communities/c1/buildings", HOST, {"name": "9号楼", "lat": 91, "lng": 0}, 400),
        ("POST", "/api/communities/c1/buildings", HOST, {"name": "", "lat": 1, "lng": 0}, 400),
        ("POST", "/api/communities/c1/buildings", GRID, {"name": "9号楼", "lat": 1, "lng": 0}, 403),
        ("POST", "/api/communities/c1/pickup-points", HOST, {"id": "p3", "name": "柜", "kind": "bank"}, 400),
        ("POST", "/api/communities/c1/pickup-points", HOST, {"id": "p3", "name": "柜", "capacity": 0}, 400),
        ("PUT", "/api/me/pickup-point", WANG, {"pickup_point_id": "nowhere"}, 404),
        ("PUT", "/api/me/pickup-point", token("stranger"), {"pickup_point_id": "p1"}, 404),
        ("PUT", "/api/me/pickup-point", STAFF1, {"pickup_point_id": "p1"}, 403),
        ("GET", "/api/me/orders/no-such-order/qr.svg", WANG, None, 404),
        ("PATCH", "/api/me/orders/no-such-order", WANG, {"pickup_point_id": "p1"}, 404),
        ("GET", "/api/me/orders", None, None, 401),
    ]
    for method, path, tok, body, expected in cases:
        status, answer = await api.call(method, path, tok, body)
        assert status == expected and answer["error"]["code"], (method, path, body, status, answer)
    assert await _counts(engine) == before
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(notices)) == 0
    assert (await api.ok("GET", "/api/me/pickup-point", WANG))["pickup_point"]["id"] == "p1"
    del oid


async def test_rebinding_staff_moves_them_and_a_point_of_another_community_is_404(api: Served) -> None:
    """staff1 bound to p2 confirms at p2 and no longer at p1; another community's point is 404."""
    await _community(api)
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c2", "name": "和平里"})
    await api.ok("POST", "/api/communities/c2/pickup-points", token("h2", "host", "c2"), {"id": "q1", "name": "小卖部"})
    status, body = await api.call("POST", "/api/communities/c1/pickup-staff", HOST,
                                  {"user_id": "staff1", "pickup_point_id": "q1"})
    assert (status, body["error"]["code"]) == (404, "unknown_pickup_point")
    bound = await api.ok("POST", "/api/communities/c1/pickup-staff", ADMIN,
                         {"user_id": "staff1", "pickup_point_id": "p2"})
    assert bound == {"user_id": "staff1", "community_id": "c1", "pickup_point_id": "p2"}
    assert (await api.ok("GET", "/api/me/pickup-point", STAFF1))["pickup_point"]["id"] == "p2"
    assert (await api.call("POST", "/api/pickup-points/p1/collect", STAFF1, {"code": "123456"}))[0] == 403
    assert (await api.call("POST", "/api/pickup-points/p2/collect", STAFF1, {"code": "123456"}))[0] == 404
