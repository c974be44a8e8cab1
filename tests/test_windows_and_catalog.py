"""Wish windows a host can run for a week, and a catalog scoped to the communities a supplier serves."""

from __future__ import annotations

import codecs
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from crowdfund.api import aggregate_cmd
from infra.settings import Settings
from linli.app import create_app
from tests.live import SECRET, Api, token

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
GRID = token("grid1", "grid")
FARM = token("farm1", "supplier", None)
ORCHARD = token("farm2", "supplier", None)
DAY = 24 * 3600 * 1000
HOUR = 3600 * 1000
POTATO = {"id": "hongshu", "supplier_id": "farm1", "name": "红薯", "unit": "斤", "case_size": 10, "moq": 30,
          "capacity": 100, "lead_time_hours": 12,
          "tiers": [{"min_qty": 0, "price_cents": 400}, {"min_qty": 50, "price_cents": 350}]}
APPLE = {"id": "pingguo", "supplier_id": "farm2", "name": "苹果", "unit": "斤", "case_size": 5, "moq": 10,
         "capacity": 200, "lead_time_hours": 48, "tiers": [{"min_qty": 0, "price_cents": 600}]}


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings, worker=True)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


def _now() -> int:
    return int(time.time() * 1000)


async def _community(api: Api, cid: str = "c1", residents: tuple[str, ...] = ("li", "zhao")) -> None:
    await api.ok("POST", "/api/communities", OPERATOR, {"id": cid, "name": f"小区{cid}"})
    await api.ok("POST", f"/api/communities/{cid}/pickup-points", OPERATOR, {"id": f"{cid}-p1", "name": "仁和药房"})
    for rid in residents:
        await api.ok("POST", f"/api/communities/{cid}/residents", OPERATOR, {"id": rid, "name": f"居民{rid}"})


async def _catalog(api: Api) -> None:
    """farm1 (红薯) serves c1; farm2 (苹果, 48 hours to deliver) serves c1 and c2."""
    await api.call("POST", "/api/communities", OPERATOR, {"id": "c2", "name": "小区c2"})  # 409 when there already
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm2", "name": "西岭果园", "community_ids": ["c1", "c2"]})
    await api.ok("POST", "/api/products", FARM, POTATO)
    await api.ok("POST", "/api/products", ORCHARD, APPLE)


async def _window(api: Api, title: str = "周六助农直播", **times: int) -> dict[str, Any]:
    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": title, "community_id": "c1"}))["id"]
    body = {"session_id": sid, "live_at": _now() + 2 * DAY, "cutoff_at": _now() + DAY, **times}
    window: dict[str, Any] = await api.ok("POST", "/api/wish-windows", HOST, body)
    return window


async def _wish(api: Api, wid: str, who: str, product: str, qty: int) -> dict[str, Any]:
    line: dict[str, Any] = await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token(who),
                                        {"product_id": product, "qty": qty, "pickup_point_id": "c1-p1"})
    return line


async def test_a_window_past_its_cutoff_is_refused_and_an_empty_one_is_replaced(api: Api) -> None:
    """A cutoff in the past is 400 cutoff_passed; a window with no wishes (open, or closed empty) is
    replaced in place by creating it again; one with wishes is kept (409 window_exists)."""
    await _community(api)
    await _catalog(api)
    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "直播", "community_id": "c1"}))["id"]
    status, body = await api.call("POST", "/api/wish-windows", HOST,
                                  {"session_id": sid, "live_at": _now() + HOUR, "cutoff_at": _now() - 1000})
    assert (status, body["error"]["code"]) == (400, "cutoff_passed")
    first = await api.ok("POST", "/api/wish-windows", HOST,
                         {"session_id": sid, "live_at": _now() + DAY, "cutoff_at": _now() + HOUR})
    again = await api.ok("POST", "/api/wish-windows", HOST,
                         {"session_id": sid, "live_at": _now() + 2 * DAY, "cutoff_at": _now() + DAY})
    assert again["id"] == first["id"] and again["cutoff_at"] > first["cutoff_at"] and again["accepting"]

    closed = await api.ok("POST", f"/api/wish-windows/{first['id']}/close", HOST)
    assert closed["status"] == "aggregated" and closed["supplier_orders"] == 0
    reopened = await api.ok("POST", "/api/wish-windows", HOST,
                            {"session_id": sid, "live_at": _now() + 2 * DAY, "cutoff_at": _now() + DAY})
    assert reopened["id"] == first["id"] and reopened["status"] == "open" and reopened["accepting"]

    await _wish(api, first["id"], "li", "hongshu", 5)
    status, body = await api.call("POST", "/api/wish-windows", HOST,
                                  {"session_id": sid, "live_at": _now() + 3 * DAY, "cutoff_at": _now() + DAY})
    assert (status, body["error"]["code"]) == (409, "window_exists")
    kept = await api.ok("GET", f"/api/wish-windows/{first['id']}", token("li"))
    assert kept["cutoff_at"] == reopened["cutoff_at"] and len(kept["my_wishes"]) == 1


async def test_a_delivery_after_the_live_is_warned_to_the_host(api: Api) -> None:
    """Cutoff + lead time after live_at: the window, its view and the demand view carry a
    delivery_after_live warning for that product (and only that one)."""
    await _community(api)
    await _catalog(api)
    now = _now()
    window = await _window(api, live_at=now + 2 * DAY, cutoff_at=now + DAY)
    (warning,) = window["warnings"]
    assert warning["code"] == "delivery_after_live"
    assert warning["params"]["product_id"] == "pingguo"
    assert warning["params"]["deliver_by"] == window["cutoff_at"] + 48 * HOUR
    assert warning["params"]["latest_cutoff"] == window["live_at"] - 48 * HOUR
    view = await api.ok("GET", f"/api/wish-windows/{window['id']}", HOST)
    assert view["warnings"] == window["warnings"]
    demand = await api.ok("GET", f"/api/wish-windows/{window['id']}/demand", HOST)
    assert demand["warnings"] == window["warnings"]
    late = {p["product_id"]: p["arrives_before_live"] for p in demand["products"]}
    assert late == {"hongshu": True, "pingguo": False}
    # Wished anyway and closed: the cutoff names the supplier order that is due after the live.
    await _wish(api, window["id"], "li", "pingguo", 10)
    closed = await api.ok("POST", f"/api/wish-windows/{window['id']}/close", HOST)
    (due,) = closed["late_deliveries"].values()
    assert list(closed["late_deliveries"]) == [f"{window['id']}-farm2"] and due > window["live_at"]
    again = await api.ok("POST", f"/api/wish-windows/{window['id']}/close", HOST)
    assert again["late_deliveries"] == closed["late_deliveries"] and again["already_closed"]
    # Early enough, nothing to warn about.
    fine = await _window(api, title="下周直播", live_at=now + 5 * DAY, cutoff_at=now + 3 * DAY)
    assert fine["warnings"] == []


async def test_residents_find_their_community_windows_open_ones_first(api: Api) -> None:
    """GET /api/communities/{cid}/wish-windows: accepting first, then those to come, then past ones,
    each with its session's title; another community's residents are refused."""
    await _community(api)
    await _community(api, "c2", residents=("sun",))
    await _catalog(api)
    now = _now()
    later = await _window(api, "下下周直播", live_at=now + 10 * DAY, cutoff_at=now + 9 * DAY, open_days_before=3)
    done = await _window(api, "上周直播")
    await api.ok("POST", f"/api/wish-windows/{done['id']}/close", HOST)
    current = await _window(api, "周六助农直播")
    listed = (await api.ok("GET", "/api/communities/c1/wish-windows", token("li")))["windows"]
    assert [w["id"] for w in listed] == [current["id"], later["id"], done["id"]]
    assert [w["session_title"] for w in listed] == ["周六助农直播", "下下周直播", "上周直播"]
    assert [w["accepting"] for w in listed] == [True, False, False]
    assert listed[2]["status"] == "aggregated"
    status, _ = await api.call("GET", "/api/communities/c1/wish-windows", token("sun", community="c2"))
    assert status == 403
    assert (await api.ok("GET", "/api/communities/c2/wish-windows", token("sun", community="c2")))["windows"] == []


async def test_demand_shows_progress_to_the_moq_and_the_price_now(api: Api) -> None:
    """The host sees per product: wished vs MOQ, what is missing, case rounding, capacity, the price
    now and the next tier; residents see the same progress with no names and no pickup-point split."""
    await _community(api, residents=("li", "zhao", "wang"))
    await _catalog(api)
    window = await _window(api)
    wid = window["id"]
    await _wish(api, wid, "li", "hongshu", 12)
    await _wish(api, wid, "zhao", "hongshu", 6)
    await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token("wang"),
                 {"free_text": "土鸡蛋", "qty": 2, "pickup_point_id": "c1-p1"})
    demand = await api.ok("GET", f"/api/wish-windows/{wid}/demand", HOST)
    potato = next(p for p in demand["products"] if p["product_id"] == "hongshu")
    assert (potato["qty"], potato["wishers"], potato["missing_to_moq"], potato["viable"]) == (18, 2, 12, False)
    assert (potato["order_qty"], potato["price_cents"], potato["by_pickup_point"]) == (0, 400, {"c1-p1": 18})
    assert potato["next_tier"] == {"min_qty": 50, "price_cents": 350, "missing_qty": 23}
    assert demand["free_text"] == [{"text": "土鸡蛋", "normalized": "土鸡蛋", "wishes": 1}]

    await _wish(api, wid, "wang", "hongshu", 95)  # 113 in all: 100 ordered (capacity), 13 short
    demand = await api.ok("GET", f"/api/wish-windows/{wid}/demand", HOST)
    potato = next(p for p in demand["products"] if p["product_id"] == "hongshu")
    assert (potato["viable"], potato["order_qty"], potato["surplus_qty"], potato["short_qty"]) == (True, 100, 0, 13)
    assert (potato["missing_to_moq"], potato["price_cents"], potato["next_tier"]) == (0, 350, None)

    seen = await api.ok("GET", f"/api/wish-windows/{wid}", token("li"))
    mine = next(p for p in seen["progress"] if p["product_id"] == "hongshu")
    assert mine["qty"] == 113 and mine["wishers"] == 3 and "by_pickup_point" not in mine
    others = json.dumps(seen["progress"]) + json.dumps(seen["products"])
    assert "zhao" not in others and "wang" not in others
    assert {p["id"] for p in seen["products"]} == {"hongshu", "pingguo"}


async def test_closing_now_is_for_the_host_and_answers_the_same_summary_twice(api: Api) -> None:
    """The community's host closes the window from the console; asking again answers the same
    summary (already_closed); a grid worker or another community's host cannot."""
    await _community(api)
    await _catalog(api)
    window = await _window(api)
    wid = window["id"]
    await _wish(api, wid, "li", "hongshu", 25)
    await _wish(api, wid, "zhao", "hongshu", 10)
    for tok in (GRID, token("host2", "host", "c2")):
        status, _ = await api.call("POST", f"/api/wish-windows/{wid}/close", tok)
        assert status == 403
    first = await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    assert first == {"window_id": wid, "supplier_orders": 1, "held": 2, "not_viable": 0, "surplus": {"hongshu": 5},
                     "late_deliveries": {}, "status": "aggregated", "already_closed": False}
    second = await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    assert second == {**first, "already_closed": True}
    # The host sees the supplier orders it made (aggregates only); nobody else of those reads them here.
    (order,) = (await api.ok("GET", f"/api/wish-windows/{wid}/supplier-orders", HOST))["orders"]
    assert (order["supplier_id"], order["supplier_name"], order["lines"][0]["order_qty"]) == ("farm1", "东山农场", 40)
    assert '"li"' not in json.dumps(order) and "zhao" not in json.dumps(order)
    for tok in (GRID, token("li"), FARM, token("host2", "host", "c2")):
        status, _ = await api.call("GET", f"/api/wish-windows/{wid}/supplier-orders", tok)
        assert status == 403
    status, body = await api.call("POST", f"/api/wish-windows/{wid}/wishes", token("li"),
                                  {"product_id": "hongshu", "qty": 1, "pickup_point_id": "c1-p1"})
    assert (status, body["error"]["code"]) == (409, "window_closed")


async def test_a_wish_edit_naming_another_field_and_an_unregistered_resident_are_refused(api: Api) -> None:
    """PATCH with product_id is 400 naming it, and changes nothing; a resident token for someone not
    registered (or registered in another community) cannot wish: 403 not_a_resident."""
    await _community(api)
    await _community(api, "c2", residents=("sun",))
    await _catalog(api)
    wid = (await _window(api))["id"]
    line = await _wish(api, wid, "li", "hongshu", 5)
    status, body = await api.call("PATCH", f"/api/wish-windows/{wid}/wishes/{line['id']}", token("li"),
                                  {"product_id": "pingguo", "qty": 7})
    assert status == 400 and "product_id" in body["error"]["message"]
    status, body = await api.call("PATCH", f"/api/wish-windows/{wid}/wishes/{line['id']}", token("li"), {})
    assert status == 400
    (kept,) = (await api.ok("GET", f"/api/wish-windows/{wid}/wishes", token("li")))["wishes"]
    assert (kept["product_id"], kept["qty"]) == ("hongshu", 5)
    for tok in (token("stranger"), token("sun")):  # sun lives in c2, the token says c1
        status, body = await api.call("POST", f"/api/wish-windows/{wid}/wishes", tok,
                                      {"product_id": "hongshu", "qty": 1, "pickup_point_id": "c1-p1"})
        assert (status, body["error"]["code"]) == (403, "not_a_resident")
    demand = await api.ok("GET", f"/api/wish-windows/{wid}/demand", HOST)
    assert next(p for p in demand["products"] if p["product_id"] == "hongshu")["qty"] == 5


async def test_the_picking_csv_opens_in_a_chinese_spreadsheet_and_runs_no_formula(api: Api) -> None:
    """UTF-8 with a BOM, Chinese headers (English with ?lang=en), the surplus row says it goes to
    the live sale, and a cell starting with = + - @ is escaped."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    await api.ok("POST", "/api/communities/c1/pickup-points", OPERATOR,
                 {"id": "c1-p1", "name": "=HYPERLINK(\"http://x\")", "address": "@幸福路1号"})
    await api.ok("POST", "/api/communities/c1/residents", OPERATOR, {"id": "li", "name": "李"})
    await _catalog(api)
    wid = (await _window(api))["id"]
    await _wish(api, wid, "li", "hongshu", 35)
    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    (order,) = (await api.ok("GET", "/api/supplier/orders", FARM))["orders"]
    url = f"{api.base}/api/supplier/orders/{order['id']}/picking.csv"
    async with api.http.get(url, headers={"Authorization": f"Bearer {FARM}"}) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        raw = await resp.read()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["自提点编号", "自提点", "地址", "商品编号", "商品", "数量", "单位"]
    assert rows[1] == ["c1-p1", "'=HYPERLINK(\"http://x\")", "'@幸福路1号", "hongshu", "红薯", "35", "斤"]
    assert rows[2] == ["直播间", "余量：直播间现场销售", "", "hongshu", "红薯", "5", "斤"]
    async with api.http.get(url + "?lang=en", headers={"Authorization": f"Bearer {FARM}"}) as resp:
        english = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert english[0][:3] == ["pickup_point_id", "pickup_point", "address"]
    assert english[2][:2] == ["live", "surplus: sold in the live session"]
    status, _ = await api.call("GET", f"/api/supplier/orders/{order['id']}/picking.csv?lang=fr", FARM)
    assert status == 400


async def test_products_are_offered_where_their_supplier_serves_and_are_checked_edited_and_retired(
        api: Api) -> None:
    """Each community sees its suppliers' products only; bad products are refused; a product can be
    edited (not its unit) and retired: offered no more, its history kept."""
    await _community(api)
    await _community(api, "c2", residents=("sun",))
    await _catalog(api)
    seen = {tok: [p["id"] for p in (await api.ok("GET", "/api/products", tok))["products"]]
            for tok in (token("li"), token("sun", community="c2"), FARM, OPERATOR)}
    assert list(seen.values()) == [["hongshu", "pingguo"], ["pingguo"], ["hongshu"], ["hongshu", "pingguo"]]
    only_c2 = (await api.ok("GET", "/api/products?community_id=c2", OPERATOR))["products"]
    assert [p["id"] for p in only_c2] == ["pingguo"]
    c2_sid = (await api.ok("POST", "/api/sessions", token("host2", "host", "c2"),
                           {"title": "c2直播", "community_id": "c2"}))["id"]
    c2_wid = (await api.ok("POST", "/api/wish-windows", token("host2", "host", "c2"),
                           {"session_id": c2_sid, "live_at": _now() + 3 * DAY, "cutoff_at": _now() + DAY}))["id"]
    status, body = await api.call("POST", f"/api/wish-windows/{c2_wid}/wishes", token("sun", community="c2"),
                                  {"product_id": "hongshu", "qty": 10, "pickup_point_id": "c2-p1"})
    assert (status, body["error"]["code"]) == (409, "product_not_offered")

    bad = [{"capacity": 5}, {"moq": 0}, {"moq": 200}, {"tiers": [{"min_qty": 0, "price_cents": 400},
                                                               {"min_qty": 50, "price_cents": 450}]},
           {"tiers": [{"min_qty": 0, "price_cents": 400}, {"min_qty": 500, "price_cents": 300}]}]
    for change in bad:
        status, _ = await api.call("POST", "/api/products", FARM, {**POTATO, "id": "bad", **change})
        assert status == 400, change

    edited = await api.ok("PATCH", "/api/products/hongshu", FARM, {"moq": 20, "lead_time_hours": 24})
    assert (edited["moq"], edited["lead_time_hours"], edited["case_size"]) == (20, 24, 10)
    for body, want in (({"unit": "公斤"}, 400), ({"capacity": 5}, 400), ({}, 400)):
        status, answer = await api.call("PATCH", "/api/products/hongshu", FARM, body)
        assert status == want, answer
    status, _ = await api.call("PATCH", "/api/products/hongshu", ORCHARD, {"moq": 10})
    assert status == 403

    wid = (await _window(api))["id"]
    await _wish(api, wid, "li", "hongshu", 30)
    retired = await api.ok("POST", "/api/products/hongshu/retire", FARM)
    assert retired["retired_at"] and (await api.ok("POST", "/api/products/hongshu/retire", FARM)) == retired
    assert [p["id"] for p in (await api.ok("GET", "/api/products", token("li")))["products"]] == ["pingguo"]
    status, body = await api.call("POST", f"/api/wish-windows/{wid}/wishes", token("zhao"),
                                  {"product_id": "hongshu", "qty": 10, "pickup_point_id": "c1-p1"})
    assert (status, body["error"]["code"]) == (409, "product_not_offered")
    status, body = await api.call("PATCH", "/api/products/hongshu", FARM, {"moq": 10})
    assert (status, body["error"]["code"]) == (409, "product_retired")
    # Its history stays: the window still shows the wish's progress, and the cutoff orders it.
    progress = (await api.ok("GET", f"/api/wish-windows/{wid}", token("li")))["progress"]
    assert next(p for p in progress if p["product_id"] == "hongshu")["offered"] is False
    await api.ok("POST", f"/api/wish-windows/{wid}/close", HOST)
    (order,) = (await api.ok("GET", "/api/supplier/orders", FARM))["orders"]
    assert order["lines"][0]["product_name"] == "红薯"
    assert [p["id"] for p in (await api.ok("GET", "/api/products", FARM))["products"]] == ["hongshu"]

    served = await api.ok("PUT", "/api/suppliers/farm2/communities", OPERATOR, {"community_ids": ["c2"]})
    assert served == {"id": "farm2", "name": "西岭果园", "community_ids": ["c2"]}
    assert (await api.ok("GET", "/api/products", token("li")))["products"] == []
    status, body = await api.call("PUT", "/api/suppliers/farm2/communities", OPERATOR, {"community_ids": ["nowhere"]})
    assert (status, body["error"]["code"]) == (404, "unknown_community")
    status, _ = await api.call("PUT", "/api/suppliers/farm2/communities", FARM, {"community_ids": ["c1"]})
    assert status == 403


def test_linli_aggregate_takes_the_documented_example_and_a_plain_list(tmp_path: Path) -> None:
    """The example files in docs/examples aggregate; a plain list of wishes works as well as
    {"wishes": [...]}; a list of something else is a clear message, not a decoder trace."""
    examples = Path(__file__).parent.parent / "docs" / "examples"
    out = CliRunner().invoke(aggregate_cmd, [str(examples / "aggregate-catalog.json"),
                                             str(examples / "aggregate-wishes.json")])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["not_viable"] == [{"product_id": "yadan", "wished_qty": 3, "moq": 20}]
    wrapped = tmp_path / "wishes.json"
    wrapped.write_text(json.dumps({"wishes": json.loads((examples / "aggregate-wishes.json").read_text())}))
    again = CliRunner().invoke(aggregate_cmd, [str(examples / "aggregate-catalog.json"), str(wrapped)])
    assert json.loads(again.output) == result
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    out = CliRunner().invoke(aggregate_cmd, [str(examples / "aggregate-catalog.json"), str(bad)])
    assert out.exit_code == 2 and "the wishes" in out.output and "--help" in out.output
    help_text = CliRunner().invoke(aggregate_cmd, ["--help"]).output
    assert "WISHES.json" in help_text and "docs/examples/aggregate-wishes.json" in help_text


async def test_a_supplier_order_worth_more_than_2_31_cents_is_stored(api: Api) -> None:
    """300 units at the highest unit price make a line total past 2^31 cents: the cutoff stores it."""
    await _community(api)
    await api.call("POST", "/api/communities", OPERATOR, {"id": "c2", "name": "小区c2"})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    dear = {**POTATO, "id": "renshen", "name": "野山参", "unit": "支", "case_size": 1, "moq": 1, "capacity": 1000,
            "tiers": [{"min_qty": 0, "price_cents": 10_000_000}]}
    await api.ok("POST", "/api/products", OPERATOR, dear)
    window = await _window(api)
    await _wish(api, window["id"], "li", "renshen", 300)
    closed = await api.ok("POST", f"/api/wish-windows/{window['id']}/close", HOST)
    assert closed["supplier_orders"] == 1
    (order,) = (await api.ok("GET", f"/api/wish-windows/{window['id']}/supplier-orders", HOST))["orders"]
    assert order["lines"][0]["total_cents"] == 3_000_000_000 > 2**31
