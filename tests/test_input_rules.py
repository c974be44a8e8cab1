"""The input rules declared on the request Structs: each boundary value accepted or refused, with a clear message."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
PRODUCT = {"id": "mi", "supplier_id": "farm1", "name": "小米", "unit": "斤", "case_size": 5, "moq": 5,
           "capacity": 100, "tiers": [{"min_qty": 0, "price_cents": 800}]}


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


async def _expect(api: Api, method: str, path: str, tok: str, cases: list[tuple[dict[str, Any], int]]) -> list[str]:
    """Post each body and check its status; returns the messages of the refused ones."""
    messages = []
    for body, status in cases:
        got, answer = await api.call(method, path, tok, body)
        assert got == status, (body, answer)
        if status == 400:
            assert answer["error"]["code"] == "bad_request", answer
            messages.append(answer["error"]["message"])
    return messages


async def _live_session(api: Api) -> tuple[str, str]:
    """Community c1 with a live session holding one item: (session id, item id)."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"}))["id"]
    item = {"title": "红薯", "price_cents": 350, "stock": 50}
    iid = (await api.ok("POST", f"/api/sessions/{sid}/items", HOST, item))["id"]
    await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
    return sid, iid


async def test_session_and_item_fields_take_their_boundaries(api: Api) -> None:
    """Titles 1-200, prices 0-10000000 cents, stock and limits 0-10000, units 1-16: edges pass, one past is 400."""
    sid, _ = await _live_session(api)
    title = await _expect(api, "POST", "/api/sessions", HOST, [
        ({"title": "x" * 200, "community_id": "c1"}, 201),
        ({"title": "x" * 201, "community_id": "c1"}, 400),
        ({"title": "", "community_id": "c1"}, 400),
        ({"title": "   ", "community_id": "c1"}, 400),
        ({"title": "直播", "community_id": "c 1"}, 400),
    ])
    assert title[0] == "invalid body: Expected `str` of length <= 200 - at `$.title`"
    assert title[1] == "invalid body: Expected `str` of length >= 1 - at `$.title`"
    assert title[2] == "title must not be blank"
    assert title[3] == ("invalid body: Expected `str` of 1-64 characters of letters, digits, '_', '-' or '.'"
                        " - at `$.community_id`")
    item = {"title": "红薯", "price_cents": 350, "stock": 5}
    refused = await _expect(api, "POST", f"/api/sessions/{sid}/items", HOST, [
        ({**item, "price_cents": 0}, 201),
        ({**item, "price_cents": 10_000_000}, 201),
        ({**item, "price_cents": 10_000_001}, 400),
        ({**item, "price_cents": -1}, 400),
        ({**item, "price_cents": 3.5}, 400),
        ({**item, "stock": 0, "per_user_limit": 10_000}, 201),
        ({**item, "stock": 10_001}, 400),
        ({**item, "per_user_limit": -1}, 400),
        ({**item, "unit": "x" * 16}, 201),
        ({**item, "unit": "x" * 17}, 400),
        ({**item, "unit": " "}, 400),
        ({**item, "title": "x" * 201}, 400),
        ({**item, "stock": True}, 400),
    ])
    assert refused[:3] == ["invalid body: Expected `int` <= 10000000 - at `$.price_cents`",
                           "invalid body: Expected `int` >= 0 - at `$.price_cents`",
                           "invalid body: Expected `int`, got `float` - at `$.price_cents`"]


async def test_flash_bag_and_packet_fields_take_their_boundaries(api: Api) -> None:
    """Flash 1-21600 s, bags of 1-1000 winners and 1-3600 s, passphrases 1-50, red packets of 1-10000 shares."""
    sid, iid = await _live_session(api)
    flash = await _expect(api, "POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, [
        ({"duration_s": 0}, 400),
        ({"duration_s": 21_601}, 400),
        ({"duration_s": 60, "price_cents": -1}, 400),
        ({"duration_s": 60, "per_user_limit": 10_001}, 400),
        ({"duration_s": 1}, 200),
        ({"duration_s": 21_600, "price_cents": 0, "per_user_limit": 10_000}, 200),
    ])
    assert flash[0] == "invalid body: Expected `int` >= 1 - at `$.duration_s`"
    bag = {"title": "福袋", "winners": 1, "countdown_s": 60, "prize_points": 10}
    await _expect(api, "POST", f"/api/sessions/{sid}/lucky-bags", HOST, [
        ({**bag, "winners": 0}, 400),
        ({**bag, "winners": 1001}, 400),
        ({**bag, "countdown_s": 0}, 400),
        ({**bag, "countdown_s": 3601}, 400),
        ({**bag, "passphrase": ""}, 400),
        ({**bag, "passphrase": "  "}, 400),
        ({**bag, "passphrase": "口" * 51}, 400),
        ({**bag, "min_watch_s": 86_401}, 400),
        ({**bag, "prize_points": 1_000_001}, 400),
        ({**bag, "prize_points": 0}, 400),  # no prize at all
        ({**bag, "winners": 1000, "countdown_s": 3600, "passphrase": "口" * 50, "min_watch_s": 86_400,
          "prize_points": 1_000_000}, 201),
        ({**bag, "countdown_s": 1, "min_watch_s": 0}, 201),
    ])
    await _expect(api, "POST", f"/api/sessions/{sid}/red-packets", HOST, [
        ({"total_points": 5, "shares": 0}, 400),
        ({"total_points": 0, "shares": 1}, 400),
        ({"total_points": 10_000_001, "shares": 1}, 400),
        ({"total_points": 10_000, "shares": 10_001}, 400),
        ({"total_points": 4, "shares": 5}, 400),  # fewer points than shares
        ({"total_points": 10_000, "shares": 10_000}, 201),
        ({"total_points": 1, "shares": 1}, 201),
    ])


async def test_community_catalog_and_wish_fields_take_their_boundaries(api: Api) -> None:
    """Ids by the id rule, names 1-200 (people and places 1-100), products and wishes by their ranges."""
    ids = await _expect(api, "POST", "/api/communities", OPERATOR, [
        ({"id": "c" * 64, "name": "x" * 200}, 201),
        ({"id": "c" * 65, "name": "幸福里"}, 400),
        ({"id": "a{b}", "name": "幸福里"}, 400),
        ({"id": "c1", "name": "x" * 201}, 400),
        ({"id": "c1", "name": " "}, 400),
        ({"id": "c1", "name": "幸福里"}, 201),
    ])
    assert ids[1] == "invalid body: Expected `str` of 1-64 characters of letters, digits, '_', '-' or '.' - at `$.id`"
    await _expect(api, "POST", "/api/communities/c1/pickup-points", HOST, [
        ({"id": "p1", "name": "x" * 101}, 400),
        ({"id": "p 1", "name": "药房"}, 400),
        ({"id": "p1", "name": "x" * 100}, 201),
    ])
    await _expect(api, "POST", "/api/communities/c1/residents", GRID, [
        ({"id": "wang", "name": ""}, 400),
        ({"id": "wang", "name": "王" * 100}, 201),
    ])
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    products = await _expect(api, "POST", "/api/products", FARM, [
        ({**PRODUCT, "case_size": 0}, 400),
        ({**PRODUCT, "moq": 0}, 400),
        ({**PRODUCT, "lead_time_hours": 337}, 400),
        ({**PRODUCT, "tiers": []}, 400),
        ({**PRODUCT, "tiers": [{"min_qty": -1, "price_cents": 800}]}, 400),
        ({**PRODUCT, "tiers": [{"min_qty": 0, "price_cents": -1}]}, 400),
        ({**PRODUCT, "tiers": [{"min_qty": 0, "price_cents": 800}, {"min_qty": 0, "price_cents": 700}]}, 400),
        ({**PRODUCT, "unit": "x" * 17}, 400),
        ({**PRODUCT, "case_size": 6, "capacity": 5}, 400),
        ({**PRODUCT, "id": "mi", "case_size": 1, "moq": 1, "capacity": 1, "lead_time_hours": 336}, 201),
    ])
    assert products[3] == "invalid body: Expected `array` of length >= 1 - at `$.tiers`"
    assert products[5] == "invalid body: Expected `int` >= 0 - at `$.tiers[0].price_cents`"
    assert products[6] == "price tiers need distinct min_qty"

    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"}))["id"]
    now = int(time.time() * 1000)
    window = {"session_id": sid, "live_at": now + 2 * DAY, "cutoff_at": now + DAY}
    await _expect(api, "POST", "/api/wish-windows", HOST, [
        ({**window, "open_days_before": 31}, 400),
        ({**window, "open_days_before": -1}, 400),
    ])
    wid = (await api.ok("POST", "/api/wish-windows", HOST, {**window, "open_days_before": 30}))["id"]
    wish = {"product_id": "mi", "qty": 1, "pickup_point_id": "p1"}
    qty = await _expect(api, "POST", f"/api/wish-windows/{wid}/wishes", token("wang"), [
        ({**wish, "qty": 0}, 400),
        ({**wish, "qty": 10_001}, 400),
        ({"free_text": "x" * 201, "qty": 1, "pickup_point_id": "p1"}, 400),
        ({**wish, "qty": 1}, 201),
        ({**wish, "qty": 10_000}, 201),
        ({"free_text": "x" * 200, "qty": 1, "pickup_point_id": "p1"}, 201),
    ])
    assert qty[0] == "invalid body: Expected `int` >= 1 - at `$.qty`"
    chain = await _expect(api, "POST", f"/api/wish-windows/{wid}/chain", GRID, [
        ({"text": "好\n" * 25_000 + "x", "pickup_point_id": "p1"}, 400),
        ({"text": "好\n" * 25_000, "pickup_point_id": "p1"}, 200),
    ])
    assert chain == ["invalid body: Expected `str` of length <= 50000 - at `$.text`"]


def test_an_id_with_a_trailing_newline_is_refused() -> None:
    """Python's $ matches before a final newline; the id rule does not let "abc\\n" through."""
    from infra.ids import ID_RE

    assert ID_RE.match("abc") and ID_RE.match("a" * 64)
    assert not ID_RE.match("abc\n") and not ID_RE.match("a" * 65) and not ID_RE.match("a{b}")
