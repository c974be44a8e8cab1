"""Bad input never breaks a request: each gets a JSON 4xx with a code, changes nothing and logs no
traceback, on SQLite and on PostgreSQL alike; a bug still answers a JSON 500, logged once.

The request Structs are held to the tables: a string a Struct accepts fits its column (PostgreSQL
refuses a longer one, SQLite keeps it), every number fits a SQL INTEGER, every list is bounded.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import msgspec.inspect as mi
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.test_utils import TestServer
from redis.exceptions import ConnectionError as RedisConnectionError

from infra import tables
from infra.apidoc import endpoint_of
from infra.http import MAX_NESTING, SECURITY_HEADERS, MalformedRequestLines
from infra.ids import ID_RE
from infra.settings import Settings
from infra.tables import UTCDateTime
from infra.types import MAX_EPOCH_MS, MAX_SQL_INT
from linli.app import STATIC, create_app
from linli.openapi import api_routes
from tests.live import SECRET, Api, token

MAX_SQL_BIGINT = 2**63 - 1
# What a body kept only in Redis may hold: Lua's numbers (doubles) are exact up to here.
MAX_EXACT_IN_LUA = 2**53
OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
GRID = token("grid1", "grid")
FARM = token("farm1", "supplier", None)
WANG = token("wang")
DAY = 24 * 3600 * 1000
BIG = 99999999999999999999  # past 64 bits
PRODUCT = {"id": "mi", "supplier_id": "farm1", "name": "小米", "unit": "斤", "case_size": 5, "moq": 5,
           "capacity": 100, "tiers": [{"min_qty": 0, "price_cents": 800}]}

# Where each request Struct's fields are stored, by the Struct's name; () for one kept in Redis only.
STORED_IN: dict[str, tuple[sa.Table, ...]] = {
    "NewCommunity": (tables.communities,),
    "NewPickupPoint": (tables.pickup_points,),
    "NewResident": (tables.residents,),
    "MarkRead": (tables.notices,),
    "NewSession": (tables.live_sessions,),
    "NewItem": (tables.session_items,),
    "Flash": (),
    "NewLuckyBag": (tables.lucky_bag_draws,),
    "NewRedPacket": (),
    "NewSupplier": (tables.suppliers, tables.supplier_communities),
    "SupplierCommunities": (tables.supplier_communities,),
    "NewProduct": (tables.products,),
    "ProductEdit": (tables.products,),
    "NewWindow": (tables.wish_windows,),
    "NewWish": (tables.wish_lines,),
    "WishEdit": (tables.wish_lines,),
    "ChainImport": (tables.wish_lines,),
    "ConfirmOrder": (tables.supplier_order_lines,),
    "Revocation": (),
    "TicketRequest": (),
    "ResidentEdit": (tables.residents,),
    "NewBuilding": (tables.buildings,),
    "StaffBinding": (tables.pickup_staff,),
    "PointChoice": (tables.residents,),
    "PointChange": (tables.orders,),
    "CodeBody": (),
    "DeliveryBody": (),
    "RatesChange": (tables.communities,),
    "Award": (),  # its reason is the ledger entry's note (200), not its reason code
    "NewReward": (tables.rewards,),
    "RewardChange": (tables.rewards,),
    "Redeem": (tables.redemptions,),
    "VoucherCheck": (tables.redemptions,),
    "NewSpending": (tables.fund_entries,),
    "NewFlashPlan": (),  # kept in Redis with the session
}
# Ids by the id rule: at most 64 characters, whatever the Struct says about length.
ID_LENGTH = 64


@pytest.fixture
async def app_server(redis, engine, tmp_path: Path, redis_url: str,
                     database_url: str) -> AsyncIterator[tuple[web.Application, Api]]:
    """linli's app (with two routes that fail on purpose) on a real port, and a client of it."""
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    app = create_app(settings)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    async def store_down(request: web.Request) -> web.Response:
        raise RedisConnectionError("Connection refused")

    app.router.add_get("/api/test-bug", boom)
    app.router.add_get("/api/test-store-down", store_down)
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        yield app, Api(http, str(server.make_url("")).rstrip("/"))


@pytest.fixture
async def api(app_server: tuple[web.Application, Api]) -> Api:
    return app_server[1]


async def _raw(api: Api, method: str, path: str, tok: str | None, data: bytes | None = None) -> tuple[int, Any]:
    """A request with a body sent byte for byte; (status, JSON answer), failing on any other content type."""
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with api.http.request(method, api.base + path, data=data, headers=headers) as resp:
        assert resp.content_type == "application/json", (method, path, resp.status, await resp.text())
        return resp.status, await resp.json()


async def _world(api: Api) -> dict[str, str]:
    """A community with a pickup point, a resident, a supplier's product, a live session with an item, a
    lucky bag and a red packet, and a second session with an open wish window holding one wish."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    await api.ok("POST", "/api/communities/c1/pickup-points", HOST, {"id": "p1", "name": "药房"})
    await api.ok("POST", "/api/communities/c1/residents", GRID, {"id": "wang", "name": "王芳"})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    await api.ok("POST", "/api/products", OPERATOR, PRODUCT)
    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"}))["id"]
    iid = (await api.ok("POST", f"/api/sessions/{sid}/items", HOST, {"title": "红薯", "price_cents": 350,
                                                                     "stock": 50}))["id"]
    await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
    bag = await api.ok("POST", f"/api/sessions/{sid}/lucky-bags", HOST,
                       {"title": "福袋", "winners": 1, "countdown_s": 3600, "prize_points": 10})
    packet = await api.ok("POST", f"/api/sessions/{sid}/red-packets", HOST, {"total_points": 10, "shares": 2})
    sid2 = (await api.ok("POST", "/api/sessions", HOST, {"title": "周日直播", "community_id": "c1"}))["id"]
    now = int(time.time() * 1000)
    wid = (await api.ok("POST", "/api/wish-windows", HOST,
                        {"session_id": sid2, "live_at": now + 2 * DAY, "cutoff_at": now + DAY}))["id"]
    line = await api.ok("POST", f"/api/wish-windows/{wid}/wishes", WANG,
                        {"product_id": "mi", "qty": 2, "pickup_point_id": "p1"})
    return {"sid": sid, "iid": iid, "bid": bag["id"], "pid": packet["id"], "sid2": sid2, "wid": wid,
            "lid": str(line["id"])}


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _cases(w: dict[str, str]) -> list[tuple[str, str, str | None, bytes | None, int, str]]:
    """(method, path, token, body, status, code): each input issue 12 names, and its neighbours."""
    sid, wid, bid, pid = w["sid"], w["wid"], w["bid"], w["pid"]
    wishes = f"/api/wish-windows/{wid}/wishes"
    window = f'{{"session_id":"{w["sid2"]}","live_at":%s}}'
    product = msgspec.json.encode({**PRODUCT, "id": "mi2"})

    def with_field(raw: bytes, field: str, value: str) -> bytes:
        return raw[:-1] + f',"{field}":{value}}}'.encode()

    return [
        # Bodies that are not JSON a decoder should try: invalid UTF-8, nesting past any Struct of ours.
        ("POST", "/api/communities", OPERATOR, b'{"id":"c9","name":"\xff\xfe"}', 400, "bad_request"),
        ("POST", "/api/communities", OPERATOR, b'{"id":"c9","name":"x","z":' + _nested(100_000) + b"}",
         400, "bad_request"),
        ("POST", "/api/communities", OPERATOR, _nested(MAX_NESTING + 1), 400, "bad_request"),
        ("POST", "/api/communities", OPERATOR, b'{"id":"c9","name":"x","z":' + _nested(MAX_NESTING) + b"}",
         400, "bad_request"),
        # Times past what a datetime holds, or before 1970.
        ("POST", "/api/wish-windows", HOST, (window % "1e20").encode(), 400, "bad_request"),
        ("POST", "/api/wish-windows", HOST, (window % "100000000000000000000").encode(), 400, "bad_request"),
        ("POST", "/api/wish-windows", HOST, (window % "-1000000000000000").encode(), 400, "bad_request"),
        ("POST", "/api/wish-windows", HOST, (window % "-1e15").encode(), 400, "bad_request"),
        ("POST", "/api/wish-windows", HOST, (window % "4102444800001").encode(), 400, "bad_request"),
        # Integers past 64 bits, or past a SQL INTEGER, for case size, capacity, tiers and row ids.
        ("POST", "/api/products", OPERATOR, with_field(product, "case_size", str(BIG)), 400, "bad_request"),
        ("POST", "/api/products", OPERATOR, with_field(product, "capacity", str(BIG)), 400, "bad_request"),
        ("POST", "/api/products", OPERATOR, with_field(product, "capacity", str(2**40)), 400, "bad_request"),
        ("POST", "/api/products", OPERATOR, with_field(product, "moq", str(2**31)), 400, "bad_request"),
        ("POST", "/api/products", OPERATOR,
         with_field(product, "tiers", f'[{{"min_qty":{2**31},"price_cents":1}}]'), 400, "bad_request"),
        ("PATCH", "/api/products/mi", OPERATOR, f'{{"capacity":{BIG}}}'.encode(), 400, "bad_request"),
        ("PATCH", f"{wishes}/{BIG}", WANG, b'{"qty":1}', 400, "bad_request"),
        ("DELETE", f"{wishes}/{BIG}", WANG, None, 400, "bad_request"),
        ("DELETE", f"{wishes}/{2**31}", WANG, None, 400, "bad_request"),
        ("DELETE", f"{wishes}/%C2%B2", WANG, None, 400, "bad_request"),  # "²" is a digit to str.isdigit
        ("DELETE", f"{wishes}/-1", WANG, None, 400, "bad_request"),
        ("GET", f"/api/notices?before={BIG}", WANG, None, 400, "bad_request"),
        ("GET", "/api/notices?limit=" + "9" * 5000, WANG, None, 400, "bad_request"),
        ("POST", "/api/notices/read", WANG, f'{{"ids":[{BIG}]}}'.encode(), 400, "bad_request"),
        ("POST", "/api/notices/read", WANG, f'{{"ids":[{2**31}]}}'.encode(), 400, "bad_request"),
        # Ids crafted to reach another key of the session.
        ("GET", f"/api/sessions/{sid}/lucky-bags/{bid}:entrants", HOST, None, 404, "unknown_bag"),
        ("GET", f"/api/sessions/{sid}/lucky-bags/{bid}:entrants", WANG, None, 404, "unknown_bag"),
        ("GET", f"/api/sessions/{sid}/red-packets/{pid}:takers", HOST, None, 404, "unknown_bag"),
        ("GET", f"/api/sessions/{sid}/red-packets/{pid}:shares", WANG, None, 404, "unknown_bag"),
        ("GET", f"/api/sessions/{sid}/lucky-bags/{bid}%0A", HOST, None, 404, "unknown_bag"),
        # Strings longer than their columns.
        ("POST", "/api/communities/c1/pickup-points", HOST,
         msgspec.json.encode({"id": "p9", "name": "药房", "address": "路" * 301}), 400, "bad_request"),
        ("POST", "/api/suppliers", OPERATOR, msgspec.json.encode({"id": "farm9", "name": "农" * 201}),
         400, "bad_request"),
        ("POST", f"/api/sessions/{sid}/items", HOST,
         msgspec.json.encode({"title": "红薯", "price_cents": 1, "stock": 1, "product_id": "x" * 65}),
         400, "bad_request"),
        ("POST", f"/api/sessions/{sid}/lucky-bags", HOST,
         msgspec.json.encode({"title": "福袋", "winners": 1, "countdown_s": 60, "prize_item_id": "x" * 65}),
         400, "bad_request"),
        ("POST", "/api/communities/c1/residents", GRID,
         msgspec.json.encode({"id": "li", "name": "李", "phone": "1" * 33}), 400, "bad_request"),
        ("POST", "/api/products", OPERATOR, with_field(product, "aliases", '["' + "米" * 101 + '"]'),
         400, "bad_request"),
        # NUL, which PostgreSQL refuses in text: in a body, a path or a query.
        ("POST", "/api/sessions", HOST, b'{"title":"a\\u0000b","community_id":"c1"}', 400, "bad_request"),
        ("POST", "/api/communities", OPERATOR, b'{"id":"c9","name":"\\u0000"}', 400, "bad_request"),
        ("POST", "/api/communities/c1/residents", GRID, b'{"id":"li","name":"li","room":"1\\u0000"}',
         400, "bad_request"),
        ("GET", "/api/wish-windows/%00", WANG, None, 400, "bad_request"),
        ("GET", "/api/communities/c1/residents?q=%00", GRID, None, 400, "bad_request"),
        ("GET", "/api/products?community_id=c1%00", OPERATOR, None, 400, "bad_request"),
    ]


async def test_bad_input_gets_a_json_4xx_with_a_code_and_changes_nothing(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """Every input issue 12 found answering 500 (invalid UTF-8, deep nesting, 1e20 times, 2**64 numbers,
    ids reaching other keys, strings past their columns, NUL) now gets its 4xx, and the data is as it was."""
    w = await _world(api)
    caplog.set_level(logging.WARNING)
    for method, path, tok, body, status, code in _cases(w):
        got, answer = await _raw(api, method, path, tok, body)
        assert (got, answer["error"]["code"]) == (status, code), (method, path[:80], (body or b"")[:80], answer)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], \
        [r.getMessage() for r in caplog.records]
    # Nothing the refused requests named was made or changed ...
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c9", "name": "望江苑"})
    await api.ok("POST", "/api/products", OPERATOR, {**PRODUCT, "id": "mi2"})
    await api.ok("POST", "/api/communities/c1/pickup-points", HOST, {"id": "p9", "name": "药房"})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": "farm9", "name": "西山农场"})
    mi = [p for p in (await api.ok("GET", "/api/products", OPERATOR))["products"] if p["id"] == "mi"]
    assert mi[0]["capacity"] == PRODUCT["capacity"]
    assert len((await api.ok("GET", f"/api/wish-windows/{w['wid']}/wishes", WANG))["wishes"]) == 1
    bag = await api.ok("GET", f"/api/sessions/{w['sid']}/lucky-bags/{w['bid']}", HOST)
    assert bag["status"] == "open" and bag["entrants"] == []


async def test_a_bug_answers_a_json_500_logged_once_and_a_store_outage_a_503(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """An exception nobody expected is a JSON 500 ``internal`` with one log record holding its traceback
    (it was aiohttp's plain-text "Server got itself in trouble"); a store that did not answer is a
    JSON 503 ``unavailable`` with one warning line and no traceback."""
    caplog.set_level(logging.WARNING)
    status, answer = await _raw(api, "GET", "/api/test-bug", None)
    assert status == 500 and answer["error"]["code"] == "internal"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info and "GET /api/test-bug" in errors[0].getMessage()
    caplog.clear()
    status, answer = await _raw(api, "GET", "/api/test-store-down", None)
    assert status == 503 and answer["error"]["code"] == "unavailable"
    assert [(r.levelno, bool(r.exc_info)) for r in caplog.records] == [(logging.WARNING, False)]


async def test_unknown_paths_and_methods_are_json_problems(api: Api) -> None:
    """A path nobody serves is a JSON 404, a method a path does not take a JSON 405 that names the allowed ones."""
    status, answer = await _raw(api, "GET", "/api/nothing-here", None)
    assert status == 404 and answer["error"]["code"] == "not_found"
    async with api.http.request("DELETE", api.base + "/api/sessions") as resp:
        assert resp.status == 405 and resp.content_type == "application/json"
        assert "POST" in resp.headers["Allow"]


async def test_security_headers_are_on_every_answer(api: Api) -> None:
    """Pages, static files, the API, its errors and its 404s all carry the CSP (frame-ancestors 'none'),
    nosniff, X-Frame-Options DENY and Referrer-Policy no-referrer."""
    for path in ("/", "/live/s1", "/wishes/w1", "/host", "/grid", "/supplier", "/static/common.js",
                 "/static/live.css", "/api/openapi.json", "/api/me", "/api/nothing-here", "/healthz"):
        async with api.http.get(api.base + path) as resp:
            headers = resp.headers
            assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), path
            assert "script-src 'self'" in headers["Content-Security-Policy"], path
            assert headers["X-Content-Type-Options"] == "nosniff", path
            assert headers["X-Frame-Options"] == "DENY", path
            assert headers["Referrer-Policy"] == "no-referrer", path
    assert set(SECURITY_HEADERS) >= {"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
                                     "Referrer-Policy"}


def test_pages_keep_to_their_content_security_policy() -> None:
    """No page has an inline script, a style element or attribute, or an on* handler attribute: the CSP
    (script-src 'self', style-src 'self') would block them, so they live in the static .js and .css files."""
    for page in sorted(STATIC.glob("*.html")):
        html = page.read_text()
        scripts = re.findall(r"<script\b([^>]*)>", html)
        assert all("src=" in attrs for attrs in scripts), f"{page.name}: an inline script"
        assert not re.search(r"<style\b", html), f"{page.name}: a style element"
        assert not re.search(r"\s(style|on[a-z]+)\s*=", html), f"{page.name}: a style or on* attribute"


def test_a_request_aiohttp_cannot_parse_logs_one_line_without_the_request() -> None:
    """A NUL in a header or the request line is answered 400 by aiohttp itself; the log says so in one
    warning line (no traceback, and not the raw line, which may carry a token)."""
    record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
                               ("127.0.0.1",), None)
    try:
        raise BadHttpMessage("Invalid header value char:\n\n  b'Authorization: Bearer secret\\x00'\n   ^")
    except BadHttpMessage:
        record.exc_info = sys.exc_info()
    assert MalformedRequestLines().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == "Error handling request from 127.0.0.1: BadHttpMessage: Invalid header value char"


def _walk(kind: Any, path: str) -> list[tuple[str, Any]]:
    """(path, type info) of every str, int and list inside a request type."""
    if isinstance(kind, mi.Metadata):
        kind = kind.type
    if isinstance(kind, mi.StructType):
        return [leaf for f in kind.fields for leaf in _walk(f.type, f"{path}.{f.name}")]
    if isinstance(kind, mi.UnionType):
        return [leaf for t in kind.types for leaf in _walk(t, path)]
    if isinstance(kind, mi.ListType):
        return [(path, kind), *_walk(kind.item_type, f"{path}[]")]
    if isinstance(kind, (mi.StrType, mi.IntType)):
        return [(path, kind)]
    return []


def test_request_structs_fit_the_tables() -> None:
    """Every request Struct's strings are bounded and no longer than their columns (by field name, in the
    tables STORED_IN names), every integer fits a SQL INTEGER, every list is bounded."""
    app = create_app(Settings(data_dir=Path("unused"), secret=SECRET))
    requests = {e.request for *_, h in api_routes(app) if (e := endpoint_of(h)) and e.request is not None}
    unknown = {k.__name__ for k in requests} - set(STORED_IN)
    assert not unknown, f"say where these request Structs are stored: {unknown}"
    problems = []
    for kind in requests:
        columns = {c.name: c for table in STORED_IN[kind.__name__] for c in table.columns}
        for path, info in _walk(mi.type_info(kind), kind.__name__):
            if isinstance(info, mi.StrType):
                longest = info.max_length or (ID_LENGTH if info.pattern == ID_RE.pattern else None)
                column = columns.get(path.rsplit(".", 1)[-1].removesuffix("[]"))
                room = getattr(column.type, "length", None) if column is not None else None
                if longest is None:
                    problems.append(f"{path}: a string with no max_length")
                elif room is not None and longest > room:
                    problems.append(f"{path}: up to {longest} characters into {column.table.name}.{column.name}"
                                    f" of {room}")
            elif isinstance(info, mi.IntType):
                column = columns.get(path.rsplit(".", 1)[-1].removesuffix("[]"))
                # A time is stored as a datetime, which holds the epoch ms up to MAX_EPOCH_MS.
                most = MAX_SQL_INT if STORED_IN[kind.__name__] else MAX_EXACT_IN_LUA
                if column is not None and isinstance(column.type, UTCDateTime):
                    most = MAX_EPOCH_MS
                elif column is not None and isinstance(column.type, sa.BigInteger):
                    most = MAX_SQL_BIGINT
                if info.le is None or info.le > most or info.ge is None or info.ge < -most:
                    problems.append(f"{path}: an integer not within {info.ge}..{info.le}, past {most}")
            elif isinstance(info, mi.ListType) and info.max_length is None:
                problems.append(f"{path}: a list with no max_length")
    assert not problems, "\n".join(sorted(problems))
