"""A community's admin acts in its own community only; a platform operator acts everywhere."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestServer

from infra.settings import Settings
from linli.app import create_app
from tests.live import SECRET, Api, token

OPERATOR = token("ops", "operator", None)
ADMIN_C1 = token("boss1", "admin", "c1")
HOST_C2 = token("host2", "host", "c2")
PRODUCT = {"supplier_id": "farm1", "name": "红薯", "unit": "斤", "case_size": 10, "moq": 30, "capacity": 500,
           "tiers": [{"min_qty": 0, "price_cents": 400}]}


@pytest.fixture
async def api(redis: Any, engine: Any, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


async def _status(api: Api, method: str, path: str, tok: str, body: Any = None) -> int:
    status, _ = await api.call(method, path, tok, body)
    return status


async def test_only_an_operator_makes_communities_suppliers_and_products(api: Api) -> None:
    """Communities, suppliers and the catalog span communities: a community's admin is 403 there, an
    operator is let in; the supplier's own doors stay shut to an admin."""
    assert await _status(api, "POST", "/api/communities", ADMIN_C1, {"id": "c1", "name": "幸福里"}) == 403
    for cid in ("c1", "c2"):
        assert await _status(api, "POST", "/api/communities", OPERATOR, {"id": cid, "name": cid}) == 201
    farm = {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]}
    assert await _status(api, "POST", "/api/suppliers", ADMIN_C1, farm) == 403
    assert await _status(api, "POST", "/api/suppliers", OPERATOR, farm) == 201
    assert await _status(api, "PUT", "/api/suppliers/farm1/communities", ADMIN_C1, {"community_ids": ["c2"]}) == 403
    assert await _status(api, "POST", "/api/products", ADMIN_C1, {"id": "hongshu", **PRODUCT}) == 403
    assert await _status(api, "POST", "/api/products", OPERATOR, {"id": "hongshu", **PRODUCT}) == 201
    assert await _status(api, "PATCH", "/api/products/hongshu", ADMIN_C1, {"moq": 40}) == 403
    assert await _status(api, "GET", "/api/supplier/orders", ADMIN_C1) == 403
    # The admin sees what her community is offered, as its people do; the operator any community's offer.
    assert [p["id"] for p in (await api.ok("GET", "/api/products", ADMIN_C1))["products"]] == ["hongshu"]
    assert (await api.ok("GET", "/api/products?community_id=c2", OPERATOR))["products"] == []


async def test_a_community_admin_acts_in_her_community_only(api: Api) -> None:
    """An admin of c1 passes the host's and grid worker's doors in c1 and is 403 in c2; an operator acts in both."""
    for cid in ("c1", "c2"):
        await api.ok("POST", "/api/communities", OPERATOR, {"id": cid, "name": cid})
    point = {"id": "p1", "name": "仁和药房"}
    assert await _status(api, "POST", "/api/communities/c1/pickup-points", ADMIN_C1, point) == 201
    assert await _status(api, "POST", "/api/communities/c2/pickup-points", ADMIN_C1, point) == 403
    assert await _status(api, "POST", "/api/communities/c2/pickup-points", OPERATOR, {**point, "id": "p2"}) == 201
    wang, li = {"id": "wang", "name": "王玉香"}, {"id": "li", "name": "李建国"}
    assert await _status(api, "POST", "/api/communities/c1/residents", ADMIN_C1, wang) == 201
    assert await _status(api, "POST", "/api/communities/c2/residents", ADMIN_C1, li) == 403
    assert await _status(api, "GET", "/api/communities/c2/residents", ADMIN_C1) == 403
    mine = await api.ok("POST", "/api/sessions", ADMIN_C1, {"title": "社区专场", "community_id": "c1"})
    assert await _status(api, "POST", "/api/sessions", ADMIN_C1, {"title": "越界", "community_id": "c2"}) == 403
    theirs = await api.ok("POST", "/api/sessions", HOST_C2, {"title": "二区专场", "community_id": "c2"})
    assert await _status(api, "GET", f"/api/sessions/{theirs['id']}", ADMIN_C1) == 403
    assert await _status(api, "POST", f"/api/sessions/{theirs['id']}/live", ADMIN_C1) == 403
    assert await _status(api, "POST", f"/api/sessions/{mine['id']}/live", ADMIN_C1) == 200
    assert await _status(api, "GET", f"/api/sessions/{theirs['id']}", OPERATOR) == 200
    assert await _status(api, "GET", f"/api/sessions/{theirs['id']}/orders", ADMIN_C1) == 403
    assert await _status(api, "GET", f"/api/sessions/{theirs['id']}/orders", OPERATOR) == 200


async def test_an_admin_token_from_before_naming_no_community_is_refused(api: Api) -> None:
    """A validly signed admin token without a community claim (what `linli token --role admin` made before)
    is 401: it no longer means "everywhere"."""
    now = int(time.time())
    old = jwt.encode({"sub": "root", "role": "admin", "iat": now, "exp": now + 600, "jti": "old1"}, SECRET,
                     algorithm="HS256")
    status, body = await api.call("POST", "/api/communities", old, {"id": "c9", "name": "旧令牌"})
    assert status == 401 and "community" in body["error"]["message"]
