"""A session's orders come a page at a time (limit, after, kind), each role seeing what it may; image and
stream URLs are http(s) only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.settings import Settings
from infra.tables import orders
from linli.app import create_app
from tests.live import SECRET, Api, token

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


async def _session_with_orders(api: Api, engine: AsyncEngine, count: int) -> str:
    """A session of c1 with ``count`` orders in SQL: every third a hold, every fifth wang's; some share a
    reservation time, so a page boundary can fall between equal times."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c2", "name": "望江苑"})
    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"}))["id"]
    start = datetime(2030, 5, 1, 10, tzinfo=UTC)
    rows = [{"id": f"{sid}-{n}", "session_id": sid, "item_id": "i1", "user_id": "wang" if n % 5 == 0 else f"r{n}",
             "qty": 1, "price_cents": 350, "kind": "hold" if n % 3 == 0 else "grab", "status": "reserved",
             "request_id": f"q{n}", "reserved_at": start + timedelta(milliseconds=n // 4),
             "updated_at": start} for n in range(count)]
    async with engine.begin() as conn:
        await conn.execute(orders.insert(), rows)
    return sid


async def _pages(api: Api, path: str, tok: str) -> list[list[dict[str, object]]]:
    pages, after = [], None
    while True:
        page = await api.ok("GET", path + (f"&after={after}" if after else ""), tok)
        pages.append(page["orders"])
        after = page["next_after"]
        if after is None:
            return pages


async def test_a_sessions_orders_come_a_hundred_at_a_time_in_order_without_repeats(api: Api,
                                                                                    engine: AsyncEngine) -> None:
    """250 orders: 100, 100 and 50 by default, oldest first, each once; 500 at most per page; kind filters."""
    sid = await _session_with_orders(api, engine, 250)
    first = await api.ok("GET", f"/api/sessions/{sid}/orders", HOST)
    assert len(first["orders"]) == 100 and first["next_after"] == first["orders"][-1]["id"]
    pages = await _pages(api, f"/api/sessions/{sid}/orders?x=1", HOST)
    assert [len(p) for p in pages] == [100, 100, 50]
    ids = [o["id"] for p in pages for o in p]
    assert ids == [f"{sid}-{n}" for n in sorted(range(250), key=lambda n: (n // 4, f"{sid}-{n}"))]
    assert [len(p) for p in await _pages(api, f"/api/sessions/{sid}/orders?limit=7", HOST)] == [7] * 35 + [5]
    whole = await api.ok("GET", f"/api/sessions/{sid}/orders?limit=500", HOST)
    assert len(whole["orders"]) == 250 and whole["next_after"] is None
    holds = [o for p in await _pages(api, f"/api/sessions/{sid}/orders?kind=hold&limit=30", HOST) for o in p]
    assert [o["id"] for o in holds] == [i for i in ids if int(i.rsplit("-", 1)[1]) % 3 == 0]


async def test_each_role_pages_through_what_it_may_see(api: Api, engine: AsyncEngine) -> None:
    """The host, the community's admin and an operator page through all; a resident, grid worker or pickup
    point through their own; a supplier, even one whose token names the community, and other communities
    are refused."""
    sid = await _session_with_orders(api, engine, 120)
    for tok in (HOST, token("adm1", "admin", "c1"), OPERATOR):
        assert sum(map(len, await _pages(api, f"/api/sessions/{sid}/orders?limit=50", tok))) == 120
    mine = [o for p in await _pages(api, f"/api/sessions/{sid}/orders?limit=5", token("wang")) for o in p]
    assert len(mine) == 24 and {o["user_id"] for o in mine} == {"wang"}
    for tok in (token("grid1", "grid"), token("pick1", "pickup")):
        assert (await api.ok("GET", f"/api/sessions/{sid}/orders", tok))["orders"] == []
    for tok in (token("farm1", "supplier", "c1"), token("farm1", "supplier", None), token("host2", "host", "c2"),
                token("adm2", "admin", "c2")):
        status, body = await api.call("GET", f"/api/sessions/{sid}/orders", tok)
        assert (status, body["error"]["code"]) == (403, "forbidden"), tok
    # Someone else's order is no place to continue from.
    status, body = await api.call("GET", f"/api/sessions/{sid}/orders?after={sid}-1", token("wang"))
    assert (status, body["error"]["code"]) == (400, "bad_cursor")


async def test_bad_paging_parameters_are_400(api: Api, engine: AsyncEngine) -> None:
    """limit outside 1-500 or not a number, an unknown kind, an after that names no order: 400 each."""
    sid = await _session_with_orders(api, engine, 3)
    for query, code in (("limit=0", "bad_request"), ("limit=501", "bad_request"), ("limit=ten", "bad_request"),
                        ("limit=-1", "bad_request"), ("kind=gift", "bad_request"), ("after=nope", "bad_cursor"),
                        ("after=%7Bs%3Ax%7D", "bad_cursor")):
        status, body = await api.call("GET", f"/api/sessions/{sid}/orders?{query}", HOST)
        assert (status, body["error"]["code"]) == (400, code), query
    status, body = await api.call("GET", "/api/sessions/nonexistent/orders", HOST)
    assert (status, body["error"]["code"]) == (404, "unknown_session")


async def test_image_and_stream_urls_are_http_or_https_only(api: Api, engine: AsyncEngine) -> None:
    """javascript:, data:, other schemes, spaces and a trailing newline are 400 and create nothing."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    session = {"title": "周六直播", "community_id": "c1"}
    good = await api.ok("POST", "/api/sessions", HOST, {**session, "stream_url": "https://live.example.cn/a.m3u8"})
    assert good["stream_url"] == "https://live.example.cn/a.m3u8"
    sid = good["id"]
    item = {"title": "红薯", "price_cents": 350, "stock": 5}
    assert (await api.ok("POST", f"/api/sessions/{sid}/items", HOST,
                         {**item, "image_url": "http://img.example.cn/hongshu.jpg"}))["image_url"]
    bad_urls = ["javascript:alert(document.cookie)", "JavaScript:alert(1)", "data:text/html,<script>1</script>",
                "vbscript:x", "ftp://example.cn/a", "//example.cn/a", "https://", "https://a b",
                "https://example.cn/a\n", " https://example.cn", "http://" + "a" * 500]
    for url in bad_urls:
        status, body = await api.call("POST", "/api/sessions", HOST, {**session, "stream_url": url})
        assert (status, body["error"]["code"]) == (400, "bad_request"), url
        assert "http:// or https:// URL" in body["error"]["message"] or "length" in body["error"]["message"]
        status, body = await api.call("POST", f"/api/sessions/{sid}/items", HOST, {**item, "image_url": url})
        assert (status, body["error"]["code"]) == (400, "bad_request"), url
    detail = await api.ok("GET", f"/api/sessions/{sid}", HOST)
    assert len(detail["items"]) == 1
    async with engine.connect() as conn:
        sessions = await conn.scalar(sa.text("SELECT count(*) FROM live_sessions"))
    assert sessions == 1
