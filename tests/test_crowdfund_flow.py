"""Demand crowdfunding through the HTTP API: catalog, window, wishes, cutoff, holds, supplier view."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from websockets.asyncio.client import connect

from infra.settings import Settings
from linli.app import create_app
from tests.live import SECRET, Api, bearer, token

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
GRID = token("grid1", "grid")
FARM = token("farm1", "supplier", None)
DAY = 24 * 3600 * 1000

SWEET_POTATO = {"id": "hongshu", "supplier_id": "farm1", "name": "红薯", "aliases": ["地瓜", "番薯"], "unit": "斤",
                "case_size": 10, "moq": 30, "capacity": 100, "lead_time_hours": 12,
                "tiers": [{"min_qty": 0, "price_cents": 400}, {"min_qty": 50, "price_cents": 350}]}
DUCK_EGGS = {"id": "yadan", "supplier_id": "farm1", "name": "海鸭蛋", "unit": "盒", "case_size": 1, "moq": 20,
             "capacity": 500, "tiers": [{"min_qty": 0, "price_cents": 2800}]}


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings, worker=True)) as server, aiohttp.ClientSession() as http:
        client = Api(http, str(server.make_url("")).rstrip("/"))
        client.ws_base = client.base.replace("http", "ws")  # type: ignore[attr-defined]
        yield client


async def _setup(api: Api) -> tuple[str, str]:
    """A community with two pickup points, a supplier with two products, a session and its open window."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    for pid, name in (("p1", "仁和药房"), ("p2", "3号楼快递柜")):
        await api.ok("POST", "/api/communities/c1/pickup-points", HOST,
                     {"id": pid, "name": name, "address": "幸福路1号"})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    await api.ok("POST", "/api/products", FARM, SWEET_POTATO)
    await api.ok("POST", "/api/products", OPERATOR, DUCK_EGGS)
    await api.ok("POST", "/api/communities/c1/residents", GRID,
                 {"id": "wang", "name": "王玉香", "phone": "13800000001"})
    for rid, name in (("li", "李爱荣"), ("zhao", "赵敏")):
        await api.ok("POST", "/api/communities/c1/residents", GRID, {"id": rid, "name": name})
    session = await api.ok("POST", "/api/sessions", HOST, {"title": "周六助农直播", "community_id": "c1"})
    now = int(time.time() * 1000)
    window = await api.ok("POST", "/api/wish-windows", HOST, {
        "session_id": session["id"], "live_at": now + 2 * DAY, "cutoff_at": now + DAY})
    assert window["accepting"] and window["opens_at"] == now + 2 * DAY - 3 * DAY
    return session["id"], window["id"]


async def test_wishes_become_supplier_orders_and_holds(api: Api) -> None:
    """Residents wish, edit and withdraw; at the cutoff viable products are ordered in whole cases,
    wishers get holds in the live session, and the supplier sees only aggregates."""
    sid, wid = await _setup(api)
    a, b = token("li"), token("zhao")
    wishes = f"/api/wish-windows/{wid}/wishes"
    w1 = await api.ok("POST", wishes, a, {"product_id": "hongshu", "qty": 10, "pickup_point_id": "p1"})
    await api.ok("POST", wishes, b, {"product_id": "hongshu", "qty": 15, "pickup_point_id": "p2"})
    await api.ok("PATCH", f"{wishes}/{w1['id']}", a, {"qty": 12})
    gone = await api.ok("POST", wishes, a, {"product_id": "yadan", "qty": 2, "pickup_point_id": "p1"})
    await api.ok("DELETE", f"{wishes}/{gone['id']}", a)
    await api.ok("POST", wishes, b, {"product_id": "yadan", "qty": 3, "pickup_point_id": "p1"})
    await api.ok("POST", wishes, b, {"free_text": "土鸡蛋！", "qty": 1, "pickup_point_id": "p1"})
    await api.ok("POST", wishes, a, {"free_text": "土鸡蛋", "qty": 2, "pickup_point_id": "p2"})
    proxy = await api.ok("POST", wishes, GRID,
                         {"resident_id": "wang", "product_id": "hongshu", "qty": 8, "pickup_point_id": "p1"})
    assert proxy["proxy"] and proxy["entered_by"] == "grid1" and proxy["source"] == "proxy"
    mine = await api.ok("GET", f"/api/wish-windows/{wid}/wishes", token("wang"))
    assert [w["entered_by"] for w in mine["wishes"]] == ["grid1"]

    demand = await api.ok("GET", f"/api/wish-windows/{wid}/demand", HOST)
    assert {p["product_id"]: p["qty"] for p in demand["products"]} == {"hongshu": 35, "yadan": 3}
    assert demand["free_text"] == [{"text": "土鸡蛋！", "normalized": "土鸡蛋", "wishes": 2}]
    eggs_now = next(p for p in demand["products"] if p["product_id"] == "yadan")
    assert (eggs_now["missing_to_moq"], eggs_now["viable"], eggs_now["order_qty"]) == (17, False, 0)

    summary = await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    assert summary["supplier_orders"] == 1 and summary["surplus"] == {"hongshu": 5}

    # 35 斤 wished -> 4 cases of 10 = 40 斤 at the base tier (below 50); 3 boxes of eggs < MOQ 20.
    orders = (await api.ok("GET", "/api/supplier/orders", FARM))["orders"]
    assert len(orders) == 1
    (line,) = orders[0]["lines"]
    figures = (line["wished_qty"], line["order_qty"], line["unit_price_cents"], line["total_cents"])
    assert figures == (35, 40, 400, 16000)
    assert line["by_pickup_point"] == {"p1": 20, "p2": 15} and line["surplus_qty"] == 5
    assert {p["pickup_point_id"]: p["lines"][0]["qty"] for p in orders[0]["picking_lists"]} == {"p1": 20, "p2": 15}
    assert orders[0]["deliver_by"] > 0 and orders[0]["status"] == "pending"

    # What became of each wish, told to the wisher.
    li = (await api.ok("GET", f"/api/wish-windows/{wid}/wishes", a))["wishes"]
    outcome = {w["product_id"] or w["free_text"]: w["outcome"] for w in li if w["status"] == "active"}
    assert outcome["hongshu"]["status"] == "held" and outcome["hongshu"]["held_qty"] == 12
    assert outcome["土鸡蛋"]["status"] == "not_in_catalog"
    zhao = (await api.ok("GET", f"/api/wish-windows/{wid}/wishes", b))["wishes"]
    eggs = next(w for w in zhao if w["product_id"] == "yadan")["outcome"]
    assert eggs["status"] == "not_viable" and "20" in eggs["reason"]

    # The live session has the product as an item: 40 loaded, 35 held, 5 left for the flash sale.
    session = await api.ok("GET", f"/api/sessions/{sid}", HOST)
    (item,) = session["items"]
    assert item["title"] == "红薯" and item["left"] == 5 and item["price_cents"] == 400

    # The wisher sees her hold in the live room and keeps it with one tap.
    async with connect(f"{api.ws_base}/ws/sessions/{sid}", additional_headers=bearer(a)) as ws:  # type: ignore[attr-defined]
        snapshot = json.loads(await ws.recv())
        (hold,) = snapshot["holds"]
        assert hold["qty"] == 12 and hold["status"] == "reserved"
        await ws.send(json.dumps({"type": "confirm_hold", "order_id": hold["id"]}))
        reply = json.loads(await ws.recv())
        while reply["type"] != "hold_confirmed":
            reply = json.loads(await ws.recv())
        assert reply["order_id"] == hold["id"]

    # Too late to wish now.
    status, body = await api.call("POST", f"/api/wish-windows/{wid}/wishes", a,
                                  {"product_id": "hongshu", "qty": 1, "pickup_point_id": "p1"})
    assert status == 409 and body["error"]["code"] == "window_closed"

    # The supplier confirms, ships, and downloads the picking lists.
    await api.ok("POST", f"/api/supplier/orders/{orders[0]['id']}/confirm", FARM)
    await api.ok("POST", f"/api/supplier/orders/{orders[0]['id']}/ship", FARM)
    async with api.http.get(f"{api.base}/api/supplier/orders/{orders[0]['id']}/picking.csv",
                            headers={"Authorization": f"Bearer {FARM}"}) as resp:
        assert resp.status == 200
        csv_text = await resp.text()
    assert "仁和药房" in csv_text and ",20," in csv_text and "余量：直播间现场销售" in csv_text


async def test_a_supplier_never_sees_a_resident(api: Api) -> None:
    """No resident id, name or phone appears anywhere a supplier token can read."""
    sid, wid = await _setup(api)
    wishes = f"/api/wish-windows/{wid}/wishes"
    for user in ("li", "zhao"):
        await api.ok("POST", wishes, token(user), {"product_id": "hongshu", "qty": 20, "pickup_point_id": "p1"})
    await api.ok("POST", wishes, GRID,
                 {"resident_id": "wang", "product_id": "hongshu", "qty": 10, "pickup_point_id": "p2"})
    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    seen = []
    for path in ("/api/supplier/orders", "/api/products"):
        async with api.http.get(api.base + path, headers={"Authorization": f"Bearer {FARM}"}) as resp:
            seen.append(await resp.text())
    oid = json.loads(seen[0])["orders"][0]["id"]
    async with api.http.get(f"{api.base}/api/supplier/orders/{oid}/picking.csv",
                            headers={"Authorization": f"Bearer {FARM}"}) as resp:
        seen.append(await resp.text())
    text = "\n".join(seen)
    for secret in ("li", "zhao", "wang", "王玉香", "13800000001", "grid1"):
        assert f'"{secret}"' not in text and f",{secret}," not in text, secret
    assert "王玉香" not in text and "13800000001" not in text
    # And the organizer-only views are closed to suppliers.
    for path in (f"/api/wish-windows/{wid}/demand", f"/api/sessions/{sid}/orders", f"{wishes}?resident_id=wang"):
        status, _ = await api.call("GET", path, FARM)
        assert status in (403, 404), path


async def test_bad_wishes_are_refused_and_change_nothing(api: Api) -> None:
    """Each bad input is a clear error; the window's demand is unchanged."""
    _, wid = await _setup(api)
    r = token("li")
    cases = [
        (r, {"product_id": "hongshu", "qty": 0, "pickup_point_id": "p1"}, 400, "bad_request"),
        (r, {"product_id": "hongshu", "qty": 10001, "pickup_point_id": "p1"}, 400, "bad_request"),
        (r, {"product_id": "nope", "qty": 1, "pickup_point_id": "p1"}, 404, "unknown_product"),
        (r, {"product_id": "hongshu", "qty": 1, "pickup_point_id": "nowhere"}, 404, "unknown_pickup_point"),
        (r, {"qty": 1, "pickup_point_id": "p1"}, 400, "bad_request"),
        (r, {"product_id": "hongshu", "qty": 1, "pickup_point_id": "p1", "resident_id": "wang"}, 403, "forbidden"),
        (token("grid2", "grid"), {"resident_id": "wang", "product_id": "hongshu", "qty": 1, "pickup_point_id": "p1"},
         403, "forbidden"),
        (token("x", community="c2"), {"product_id": "hongshu", "qty": 1, "pickup_point_id": "p1"}, 403, "forbidden"),
        (FARM, {"product_id": "hongshu", "qty": 1, "pickup_point_id": "p1"}, 403, "forbidden"),
    ]
    for tok, body, status, code in cases:
        got, answer = await api.call("POST", f"/api/wish-windows/{wid}/wishes", tok, body)
        assert (got, answer["error"]["code"]) == (status, code), (body, answer)
    status, _ = await api.call("POST", f"/api/wish-windows/{wid}/wishes", r, "not an object")
    assert status == 400
    demand = await api.ok("GET", f"/api/wish-windows/{wid}/demand", HOST)
    assert [p["qty"] for p in demand["products"]] == [0, 0] and demand["free_text"] == []
    other = await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token("zhao"),
                         {"product_id": "hongshu", "qty": 1, "pickup_point_id": "p1"})
    status, _ = await api.call("PATCH", f"/api/wish-windows/{wid}/wishes/{other['id']}", r, {"qty": 5})
    assert status == 404  # someone else's line answers as a missing one
    status, _ = await api.call("POST", "/api/products", FARM, {**DUCK_EGGS, "id": "bad", "case_size": 0})
    assert status == 400
    status, _ = await api.call("POST", "/api/products", token("farm2", "supplier", None), {**DUCK_EGGS, "id": "x2"})
    assert status == 403


async def test_a_pasted_chain_becomes_wishes_once_with_the_rest_reported(api: Api) -> None:
    """A grid worker pastes a 接龙: matched lines become wishes (aliases and near names too),
    unmatched names and products are listed, and pasting it again adds nothing."""
    _, wid = await _setup(api)
    chain = "\n".join([
        "#接龙 周六助农",
        "1. 王玉香 红薯10斤 3号楼",
        "2. 李爱荣 海鸭蛋两盒 + 地瓜5斤",
        "3、老马 红薯 十斤",
        "4. 李爱荣 红薯1箱",
        "5. 王玉香 土鸡蛋3盒",
        "随便说两句",
    ])
    first = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, {"text": chain, "pickup_point_id": "p1"})
    got = sorted((w["resident_id"], w["product_id"], w["qty"]) for w in first["imported"])
    assert got == [("li", "hongshu", 5), ("li", "yadan", 2), ("wang", "hongshu", 10)]
    assert all(w["source"] == "chain" and w["entered_by"] == "grid1" for w in first["imported"])
    assert first["unmatched_names"] == [{"line": 3, "name": "老马"}]
    problems = {(u["line"], u["product"]): u["problem"] for u in first["unmatched_products"]}
    assert "箱" in problems[(4, "红薯")] and problems[(5, "土鸡蛋")] == "no such product in the catalog"
    assert first["unparsed"] == ["#接龙 周六助农", "随便说两句"]

    again = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, {"text": chain, "pickup_point_id": "p1"})
    assert again["imported"] == [] and again["already_imported"] == 3
    demand = await api.ok("GET", f"/api/wish-windows/{wid}/demand", HOST)
    assert {p["product_id"]: p["qty"] for p in demand["products"]} == {"hongshu": 15, "yadan": 2}
    # The resident sees the wish entered for her.
    mine = (await api.ok("GET", f"/api/wish-windows/{wid}/wishes", token("wang")))["wishes"]
    assert [(w["product_id"], w["qty"], w["proxy"]) for w in mine] == [("hongshu", 10, True)]
    status, _ = await api.call("POST", f"/api/wish-windows/{wid}/chain", token("li"),
                               {"text": chain, "pickup_point_id": "p1"})
    assert status == 403
