"""The role matrix: every route the app serves, knocked on by every role, by people of another
community and by nobody at all.

The routes come from the app's router with the roles each declares (``@endpoint``, as the OpenAPI
document lists them), so a route added tomorrow is walked without editing this file. Path parameters are filled
with real ids of a community that has residents, points, a reward, a session with orders and a wish
window, chosen by the path segment before the parameter (``/sessions/{x}`` is a session whatever the
parameter is called); a segment nobody taught this file gets a placeholder id, which still checks the
doors (401, 403, another community, no 5xx). Routes that cannot be reached with valid parameters are
listed in UNREACHED with the reason. Sensitive routes also get a table of exact answers.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec.inspect as mi
import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import post_fund
from infra.apidoc import Endpoint, endpoint_of
from infra.auth import Principal
from infra.settings import Settings
from inventory import Inventory
from linli.app import create_app
from linli.openapi import FACE, api_routes
from orders.outbox_worker import OutboxWorker
from tests.live import SECRET, Api, token

ROLES = ("resident", "host", "grid", "pickup", "supplier", "admin", "operator")
# People of another community: each checked on routes that name something of c1.
OTHER_ROLES = ("resident", "host", "grid", "pickup", "admin")
DAY_MS = 24 * 3600 * 1000
PARAM = re.compile(r"\{([^}]+)\}")

# Routes (method, path) the walk cannot reach with valid parameters, and why; their doors are still checked.
UNREACHED = {
    ("POST", "/api/supplier/orders/{oid}/{action}"):
        "a supplier order exists only after a wish window's cutoff with enough demand (tests/test_crowdfund_flow.py)",
    ("GET", "/api/supplier/orders/{oid}/picking.csv"): "as above: no supplier order in this community's data",
    ("GET", "/ws/sessions/{sid}"):
        "a websocket: a plain GET is refused before the handshake (tests/test_live_rooms.py)",
}

# Routes that answer a role they do not declare with something other than 403, and why; still never a 2xx.
DOOR_EXCEPTIONS: dict[tuple[str, str], str] = {}


@dataclass
class World:
    """The ids of the data the walk uses, by the path segment that names each kind."""

    by_segment: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # role -> token of c1
    others: dict[str, str] = field(default_factory=dict)  # role -> token of c2


@pytest.fixture
async def api(redis: Redis, engine: AsyncEngine, tmp_path: Path, redis_url: str,
              database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


def _tokens(cid: str) -> dict[str, str]:
    return {"resident": token(f"{cid}-wang", "resident", cid), "host": token(f"{cid}-host", "host", cid),
            "grid": token(f"{cid}-grid", "grid", cid), "pickup": token(f"{cid}-pick", "pickup", cid),
            "supplier": token("farm1", "supplier", cid), "admin": token(f"{cid}-admin", "admin", cid),
            "operator": token("root", "operator", None)}


async def _world(api: Api, redis: Redis, engine: AsyncEngine) -> World:
    """Two communities; c1 with a pickup point and its staff, residents, points, a reward redeemed, fund
    income, a catalog product, a live session with an item, a lucky bag, a red packet and orders in SQL,
    and an open wish window with a wish."""
    world = World(tokens=_tokens("c1"), others=_tokens("c2"))
    t, op = world.tokens, world.tokens["operator"]
    for cid, name in (("c1", "幸福里"), ("c2", "望江苑")):
        await api.ok("POST", "/api/communities", op, {"id": cid, "name": name})
        await api.ok("POST", f"/api/communities/{cid}/pickup-points", op, {"id": f"{cid}-p1", "name": "仁和药房"})
        grid = _tokens(cid)["grid"]
        await api.ok("POST", f"/api/communities/{cid}/residents", grid, {"id": f"{cid}-wang", "name": "王玉香"})
        await api.ok("POST", f"/api/communities/{cid}/residents", grid, {"id": f"{cid}-li", "name": "李建国"})
    await api.ok("POST", "/api/communities/c1/pickup-staff", t["host"],
                 {"user_id": "c1-pick", "pickup_point_id": "c1-p1"})
    await api.ok("POST", "/api/suppliers", op, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
    await api.ok("POST", "/api/products", op, {
        "id": "hongshu", "supplier_id": "farm1", "name": "红薯", "unit": "斤", "case_size": 1, "moq": 1,
        "capacity": 1000, "lead_time_hours": 1, "tiers": [{"min_qty": 0, "price_cents": 400}]})
    await api.ok("POST", "/api/communities/c1/points/awards", t["grid"],
                 {"resident_id": "c1-wang", "points": 50, "reason": "帮忙搬菜", "request_id": "award-1"})
    await api.ok("POST", "/api/communities/c1/rewards", t["admin"],
                 {"id": "fee10", "title": "物业费抵10元", "points": 10, "kind": "fee_offset", "value_cents": 1000})
    await api.ok("POST", "/api/rewards/fee10/redeem", t["resident"], {"request_id": "redeem-1"})
    async with engine.begin() as conn:
        await post_fund(conn, entry_id="income-1", community_id="c1", kind="income", amount_cents=10_000)
    session = await api.ok("POST", "/api/sessions", t["host"], {"title": "周六直播", "community_id": "c1"})
    sid = session["id"]
    iid = (await api.ok("POST", f"/api/sessions/{sid}/items", t["host"],
                        {"title": "红薯", "price_cents": 350, "stock": 50, "per_user_limit": 5, "unit": "斤"}))["id"]
    await api.ok("POST", f"/api/sessions/{sid}/live", t["host"])
    await api.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", t["host"], {"duration_s": 600})
    bag = await api.ok("POST", f"/api/sessions/{sid}/lucky-bags", t["host"],
                       {"title": "福袋", "winners": 1, "countdown_s": 600, "prize_points": 10})
    packet = await api.ok("POST", f"/api/sessions/{sid}/red-packets", t["host"], {"total_points": 100, "shares": 5})
    inventory = Inventory(redis)
    for n, user in enumerate(("c1-wang", "c1-li")):
        assert (await inventory.reserve(sid, iid, user, 1, f"g{n}")).ok
    proxied = await inventory.reserve(sid, iid, "c1-wang", 1, "p1", proxy="c1-grid")
    assert proxied.ok and proxied.order_id
    await OutboxWorker(redis, engine, consumer="matrix").drain_once()
    now = int(time.time() * 1000)
    s2 = await api.ok("POST", "/api/sessions", t["host"], {"title": "下周直播", "community_id": "c1"})
    window = await api.ok("POST", "/api/wish-windows", t["host"],
                          {"session_id": s2["id"], "live_at": now + 2 * DAY_MS, "cutoff_at": now + DAY_MS})
    wid = window["id"]
    line = await api.ok("POST", f"/api/wish-windows/{wid}/wishes", t["resident"],
                        {"product_id": "hongshu", "qty": 2, "pickup_point_id": "c1-p1"})
    world.by_segment = {
        "communities": "c1", "sessions": sid, "items": iid, "residents": "c1-wang", "rewards": "fee10",
        "products": "hongshu", "lucky-bags": _id_of(bag), "red-packets": _id_of(packet), "wish-windows": wid,
        "wishes": _id_of(line), "pickup-points": "c1-p1", "suppliers": "farm1", "me/orders": proxied.order_id,
    }
    return world


def _id_of(created: Any) -> str:
    """The id of something a POST created, whichever key names it."""
    for key in ("id", "bag_id", "packet_id", "line_id"):
        if isinstance(created, dict) and isinstance(created.get(key), str | int):
            return str(created[key])
    if isinstance(created, dict):
        for value in created.values():
            if isinstance(value, dict):
                return _id_of(value)
    raise AssertionError(f"no id in {created}")


def _kind(parts: list[str], n: int, world: World) -> str:
    """What the parameter at ``parts[n]`` names: its two segments before (me/orders) when the walk knows
    them, else the one before (sessions)."""
    pair = "/".join(parts[max(0, n - 2):n])
    return pair if pair in world.by_segment else parts[n - 1]


def _fill(path: str, world: World) -> str:
    """The path with each parameter replaced by a real id of the kind its segment names, else a placeholder."""
    parts = path.split("/")
    for n, part in enumerate(parts):
        if PARAM.fullmatch(part):
            parts[n] = world.by_segment.get(_kind(parts, n, world), "no-such-thing")
    return "/".join(parts)


# Real ids for body fields of these names; other fields get the least value their type allows.
FIELD_VALUES = {"resident_id": "c1-wang", "user_id": "c1-li", "pickup_point_id": "c1-p1", "product_id": "hongshu",
                "community_id": "c1", "supplier_id": "farm1", "text": "1. 王玉香 红薯2斤", "title": "红薯",
                "name": "王芳", "project": "路灯", "reason": "值班", "code": "000000"}


def _sample(kind: mi.Type, name: str = "") -> Any:
    """A small valid value of a request type, so allowed roles reach the handler rather than a 400."""
    match kind:
        case mi.Metadata(type=inner):
            return _sample(inner, name)
        case mi.StructType(fields=fields) | mi.TypedDictType(fields=fields) | mi.DataclassType(fields=fields):
            # An edit whose fields are all optional needs at least one: give it every field.
            wanted = [f for f in fields if f.required] or list(fields)
            return {f.encode_name: _sample(f.type, f.name) for f in wanted}
        case mi.UnionType(types=types):
            return _sample(next(t for t in types if not isinstance(t, mi.NoneType)), name)
        case mi.LiteralType(values=values):
            return values[0]
        case mi.BoolType():
            return False
        case mi.IntType(ge=ge, gt=gt):
            return ge if ge is not None else (gt + 1 if gt is not None else 1)
        case mi.FloatType():
            return 1.0
        case mi.ListType() | mi.SetType() | mi.VarTupleType():
            return []
        case mi.DictType():
            return {}
        case mi.StrType():
            return FIELD_VALUES.get(name, "matrix-" + name.replace("_", "-") if name else "x")
    return None


def _body(request: Any) -> Any:
    """The body a route is walked with: a sample of its request type, None when it takes none."""
    return None if request is None else _sample(mi.type_info(request))


def _community_scoped(path: str, world: World) -> bool:
    """Whether the path names something of c1 (a community, its session, window, reward, point, order)."""
    scoped = ("communities", "sessions", "wish-windows", "rewards", "pickup-points", "me/orders")
    parts = path.split("/")
    return any(PARAM.fullmatch(p) and _kind(parts, n, world) in scoped for n, p in enumerate(parts))


def _routes() -> list[tuple[str, str, Endpoint]]:
    """(method, path, declaration) of every route the app serves (tests/test_openapi.py holds each to
    its declaration and to docs/api.md)."""
    app = create_app(Settings(secret=SECRET))
    routes = []
    for method, path, handler in api_routes(app):
        # As the document reads it: a route without a declaration is for anyone signed in.
        routes.append((method, path, endpoint_of(handler) or FACE.get((method, path)) or Endpoint()))
    assert len(routes) > 50, "the router lists the app's routes"
    return routes


async def _knock(api: Api, method: str, path: str, tok: str | None, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    async with api.http.request(method, api.base + path, json=body, headers=headers) as resp:
        text = await resp.read()
        try:
            return resp.status, await resp.json(content_type=None) if text else None
        except ValueError:
            return resp.status, text[:100]




async def test_every_route_answers_every_role_as_it_declares(api: Api, redis: Redis, engine: AsyncEngine) -> None:
    """No 5xx ever; no token is 401 where one is needed; a role the route does not declare is 403; people
    of another community get 403 or 404 on what belongs to c1, never a 2xx."""
    world = await _world(api, redis, engine)
    failures: list[str] = []
    reached: set[tuple[str, str]] = set()
    routes = _routes()
    for method, path, op in routes:
        if (method, path) == ("POST", "/api/token-revocations"):
            continue  # walked last: an operator's {} is a 400, but a real revocation would end the walk
        # roles: None when no token is needed, () when anyone signed in may call it
        url, body, roles = _fill(path, world), _body(op.request), op.roles
        answers: list[tuple[str, int, Any]] = []
        status, data = await _knock(api, method, url, None, body)
        answers.append(("nobody", status, data))
        if roles is not None and path.startswith("/api/") and status != 401:
            failures.append(f"{method} {path} without a token: {status} {data}")
        for role in ROLES:
            status, data = await _knock(api, method, url, world.tokens[role], body)
            answers.append((role, status, data))
            caller = Principal(user_id="x", role=role, community_id=None if role == "operator" else "c1")
            if roles and not caller.holds(*roles) and status != 403 \
                    and not ((method, path) in DOOR_EXCEPTIONS and status == 404):
                failures.append(f"{method} {path} as {role} (declared {roles}): {status} {data}")
        if _community_scoped(path, world):
            for role in OTHER_ROLES:
                status, data = await _knock(api, method, url, world.others[role], body)
                answers.append((f"c2 {role}", status, data))
                if status not in (403, 404):
                    failures.append(f"{method} {path} as a {role} of c2: {status} {data}")
        failures += [f"{method} {path} as {who}: {status} {data}" for who, status, data in answers if status >= 500]
        if any(200 <= status < 300 for _, status, _ in answers):
            reached.add((method, path))
    assert not failures, "\n".join(failures)
    # The data is real enough that most routes do their work for someone (the rest refuse on a state,
    # e.g. a flash on an ended session, or are unreached).
    assert len(reached) >= 0.7 * len(routes), sorted({(m, p) for m, p, _ in routes} - reached)


async def test_token_revocations_take_an_operators_word_only(api: Api, redis: Redis, engine: AsyncEngine) -> None:
    """POST /api/token-revocations: nobody 401; an empty body 400 for everyone; someone else's tokens are
    revoked by an operator only (403 for every other role)."""
    world = await _world(api, redis, engine)
    assert (await _knock(api, "POST", "/api/token-revocations", None, {}))[0] == 401
    for body, wanted in (({}, dict.fromkeys(ROLES, 400)),
                         ({"user_id": "c1-li"}, {**dict.fromkeys(ROLES, 403), "operator": 200})):
        answers = {role: (await _knock(api, "POST", "/api/token-revocations", world.tokens[role], body))[0]
                   for role in ROLES}
        assert answers == wanted, body


# The sensitive routes: (method, path, body) and the answer of each caller. "c2 <role>" is that role
# in another community. A route not served yet is skipped (it is walked by the matrix once it is).
SENSITIVE: list[tuple[str, str, Any, dict[str, int]]] = [
    ("POST", "/api/pickup-points/{pid}/collect", {"code": "000000"},
     {"nobody": 401, "resident": 403, "host": 403, "grid": 403, "supplier": 403, "pickup": 404,
      "c2 pickup": 403, "c2 admin": 403}),
    ("POST", "/api/communities/{cid}/fund/spending", {"project": "路灯", "amount_cents": 100, "note": "议事会"},
     {"nobody": 401, "resident": 403, "host": 403, "grid": 403, "pickup": 403, "supplier": 403, "admin": 201,
      "operator": 201, "c2 admin": 403, "c2 resident": 403}),
    ("POST", "/api/communities/{cid}/fund/spending", {"project": "大修", "amount_cents": 10_000_000},
     {"admin": 409}),
    ("GET", "/api/communities/{cid}/fund", None,
     {"nobody": 401, "resident": 200, "host": 200, "grid": 200, "pickup": 200, "admin": 200, "operator": 200,
      "supplier": 403, "c2 resident": 403}),
    ("POST", "/api/communities/{cid}/rewards", {"id": "rice", "title": "大米", "points": 30, "kind": "goods"},
     {"nobody": 401, "resident": 403, "host": 403, "grid": 403, "pickup": 403, "supplier": 403, "admin": 201,
      "c2 admin": 403}),
    ("POST", "/api/rewards/{rid}/redeem", {"request_id": "redeem-2"},
     {"nobody": 401, "host": 403, "grid": 403, "pickup": 403, "supplier": 403, "resident": 201,
      "c2 resident": 404}),
    ("POST", "/api/communities/{cid}/vouchers/verify", {"code": "NOPE-0000"},
     {"nobody": 401, "resident": 403, "host": 403, "grid": 403, "pickup": 403, "supplier": 403, "admin": 404,
      "c2 admin": 403}),
    ("POST", "/api/communities/{cid}/points/awards",
     {"resident_id": "c1-wang", "points": 5, "reason": "值班", "request_id": "award-2"},
     {"nobody": 401, "resident": 403, "pickup": 403, "supplier": 403, "grid": 201, "c2 grid": 403}),
    ("POST", "/api/communities/{cid}/pickup-staff", {"user_id": "c1-pick2", "pickup_point_id": "c1-p1"},
     {"nobody": 401, "resident": 403, "grid": 403, "pickup": 403, "supplier": 403, "host": 201,
      "c2 host": 403, "c2 admin": 403}),
    ("GET", "/api/communities/{cid}/residents", None,
     {"nobody": 401, "resident": 403, "pickup": 403, "supplier": 403, "grid": 200, "host": 200, "admin": 200,
      "operator": 200, "c2 grid": 403, "c2 host": 403}),
    ("POST", "/api/wish-windows/{wid}/chain", {"text": "1. 王玉香 红薯2斤", "pickup_point_id": "c1-p1"},
     {"nobody": 401, "resident": 403, "pickup": 403, "supplier": 403, "grid": 200, "host": 200,
      "c2 grid": 403, "c2 host": 403}),
    ("GET", "/api/sessions/{sid}/orders", None,
     {"nobody": 401, "supplier": 403, "resident": 200, "host": 200, "admin": 200, "operator": 200,
      "c2 resident": 403, "c2 host": 403}),
    ("GET", "/api/me/audit", None,
     {"nobody": 401, "resident": 200, "host": 403, "grid": 403, "pickup": 403, "supplier": 403}),
    # No token is let in from this machine (LINLI_METRICS_ALLOW's default); a token is judged as a token.
    ("GET", "/metrics", None,
     {"nobody": 200, "operator": 200, "resident": 403, "host": 403, "grid": 403, "pickup": 403, "supplier": 403,
      "admin": 403, "c2 admin": 403}),
]


async def test_sensitive_routes_answer_exactly_as_the_table_says(api: Api, redis: Redis, engine: AsyncEngine) -> None:
    """Collect, fund spending, rewards, vouchers, awards, pickup staff, residents, chain import, session
    orders and the audit log: each caller gets the answer the table names."""
    world = await _world(api, redis, engine)
    served = {(method, path) for method, path, _ in _routes()}
    wrong: list[str] = []
    for method, path, body, expected in SENSITIVE:
        if (method, path) not in served:
            continue
        for who, status_wanted in expected.items():
            if who == "nobody":
                tok = None
            elif who.startswith("c2 "):
                tok = world.others[who[3:]]
            else:
                tok = world.tokens[who]
            status, data = await _knock(api, method, _fill(path, world), tok, body)
            if status != status_wanted:
                wrong.append(f"{method} {path} as {who}: {status} (wanted {status_wanted}) {data}")
    assert not wrong, "\n".join(wrong)
    # What the table asks of a session's orders: a resident sees her own, a host all of them.
    sid = world.by_segment["sessions"]
    mine = (await api.ok("GET", f"/api/sessions/{sid}/orders", world.tokens["resident"]))["orders"]
    everyone = (await api.ok("GET", f"/api/sessions/{sid}/orders", world.tokens["host"]))["orders"]
    assert {o["user_id"] for o in mine} == {"c1-wang"} and len(mine) == 2
    assert {o["user_id"] for o in everyone} == {"c1-wang", "c1-li"}


def test_unreached_routes_and_exceptions_are_served_and_have_a_reason() -> None:
    """Each route listed as unreached or as an exception is still served and says why (a stale entry fails)."""
    served = {(method, path) for method, path, _ in _routes()}
    for listed in (UNREACHED, DOOR_EXCEPTIONS):
        assert set(listed) <= served, set(listed) - served
        assert all(reason.strip() for reason in listed.values())
