"""What the chain import makes of the parser's reading: households, duplicate names, the chain's one
product, a pickup point on a line, cases, edits and questions (listed, never written as orders)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from infra.settings import Settings
from linli.app import create_app
from tests.live import SECRET, Api, token

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
GRID = token("grid1", "grid")
FARM = token("farm1", "supplier", None)
DAY = 24 * 3600 * 1000
PRODUCTS = [
    {"id": "dfn", "name": "豆腐脑", "unit": "份", "case_size": 1},
    {"id": "jidan", "name": "鸡蛋", "unit": "枚", "case_size": 30},
    {"id": "yumi", "name": "玉米", "unit": "根", "case_size": 10},
]
RESIDENTS = [("meng", "孟秀英", "17", "1205"), ("wang1", "王芳", "3", "1205"), ("wang2", "王芳", "12", "602"),
             ("zhou", "周建国", "6", "702")]


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings, worker=True)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


async def _window(api: Api) -> str:
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    for pid, name in (("p1", "仁和药房"), ("p2", "3号楼快递柜")):
        await api.ok("POST", "/api/communities/c1/pickup-points", HOST, {"id": pid, "name": name})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    for product in PRODUCTS:
        await api.ok("POST", "/api/products", FARM, {
            **product, "supplier_id": "farm1", "moq": 1, "capacity": 1000,
            "tiers": [{"min_qty": 0, "price_cents": 100}]})
    for rid, name, building, room in RESIDENTS:
        await api.ok("POST", "/api/communities/c1/residents", GRID,
                     {"id": rid, "name": name, "building": building, "room": room})
    session = await api.ok("POST", "/api/sessions", HOST, {"title": "周六", "community_id": "c1"})
    now = int(time.time() * 1000)
    window = await api.ok("POST", "/api/wish-windows", HOST, {
        "session_id": session["id"], "live_at": now + 2 * DAY, "cutoff_at": now + DAY})
    return str(window["id"])


async def test_a_one_product_chain_by_households(api: Api) -> None:
    """Households find their resident, the header names the product, a pickup point on a line is used;
    a household of nobody and a name two residents share are listed with their candidates."""
    wid = await _window(api)
    chain = "\n".join([
        "#接龙", "周六 现做豆腐脑 一份两碗 12元",
        "1. 17-1205 两份", "2. 3号1205 王芳 1份 放3号楼快递柜", "3. 5-101 1份", "4. 王芳 2份", "5. 老周 6-702 1份",
    ])
    result = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, {"text": chain, "pickup_point_id": "p1"})
    got = sorted((w["resident_id"], w["product_id"], w["qty"], w["pickup_point_id"]) for w in result["imported"])
    assert got == [("meng", "dfn", 2, "p1"), ("wang1", "dfn", 1, "p2"), ("zhou", "dfn", 1, "p1")]
    assert result["unmatched_names"] == [
        {"line": 3, "name": "5-101", "household": "5-101"},
        {"line": 4, "name": "王芳", "candidates": ["wang1", "wang2"]},
    ]


async def test_cases_products_inside_others_edits_and_questions(api: Api) -> None:
    """A case is only suggested through the case size, 玉米面 is not 玉米, edits change the wish they name,
    questions are listed and nothing of them is written."""
    wid = await _window(api)
    chain = "\n".join([
        "1. 孟秀英 鸡蛋半箱", "2. 周建国 玉米面2斤 玉米3根", "3. 孟秀英 鸡蛋一打",
        "@孟秀英 鸡蛋 再加一打", "周建国 不要了", "有香油吗？要一瓶", "请问几点到？",
    ])
    result = await api.ok("POST", f"/api/wish-windows/{wid}/chain", GRID, {"text": chain, "pickup_point_id": "p1"})
    assert sorted((w["resident_id"], w["product_id"], w["qty"], w["status"]) for w in result["imported"]) == [
        ("meng", "jidan", 24, "active"), ("zhou", "yumi", 3, "withdrawn")]  # 一打, 再加一打; 不要了
    problems = {u["product"]: u for u in result["unmatched_products"]}
    assert problems["鸡蛋"]["suggested_qty"] == 15 and problems["鸡蛋"]["candidates"] == ["jidan"]
    assert problems["玉米面"]["problem"] == "no such product in the catalog"
    assert [(e["kind"], e["resident_id"]) for e in result["edits"]] == [("add", "meng"), ("withdraw", "zhou")]
    assert result["questions"] == ["有香油吗？要一瓶", "请问几点到？"]
    assert result["unparsed"] == result["questions"]  # not imported, so shown with the lines not read
    assert [(d["product"], d["qty"], d["unit"]) for d in result["demand_signals"]] == [("香油", 1, "瓶")]
