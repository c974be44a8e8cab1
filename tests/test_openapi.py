"""The OpenAPI document, the app's routes and docs/api.md name the same routes, and the document is whole."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestServer

from infra.settings import Settings
from linli.app import create_app
from linli.openapi import Me, api_routes, build
from tests.live import SECRET, Api, token

API_MD = Path(__file__).parent.parent / "docs" / "api.md"
DOCUMENTED = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_route_is_in_the_document_and_in_docs_api_md_and_nothing_else() -> None:
    """(method, path) of the app's API routes == those of the OpenAPI document == those docs/api.md names."""
    app = create_app(Settings(demo=True, secret=SECRET))  # demo mode mounts /api/demo too
    served = {(method, path) for method, path, _ in api_routes(app)}
    document = {(method.upper(), path) for path, ops in build(app)["paths"].items() for method in ops}
    documented = set(DOCUMENTED.findall(API_MD.read_text(encoding="utf-8")))
    assert served, "no API routes found"
    assert document == served, {"not in the document": served - document, "not served": document - served}
    assert documented == served, {"missing from docs/api.md": served - documented, "not served": documented - served}


def test_every_reference_resolves_and_bodies_carry_their_rules() -> None:
    """Each $ref names a component; request bodies show the constraints msgspec enforces."""
    doc = build(create_app(Settings(demo=True, secret=SECRET)))
    assert doc["openapi"].startswith("3.1")
    names = {f"#/components/{kind}/{name}" for kind in ("schemas", "responses") for name in doc["components"][kind]}
    assert set(_refs(doc)) <= names
    schemas = doc["components"]["schemas"]
    item = schemas["NewItem"]["properties"]
    assert (item["title"]["minLength"], item["title"]["maxLength"]) == (1, 200)
    assert (item["price_cents"]["minimum"], item["price_cents"]["maximum"]) == (0, 10_000_000)
    assert schemas["NewCommunity"]["properties"]["id"]["pattern"]
    op = doc["paths"]["/api/sessions/{sid}/items"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NewItem"}
    assert op["responses"]["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ItemView"}
    assert op["x-roles"] == ["host"] and [p["name"] for p in op["parameters"]] == ["sid"]
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert "101" in doc["paths"]["/ws/sessions/{sid}"]["get"]["responses"]


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


async def test_the_document_is_served_without_a_token(api: Api) -> None:
    """GET /api/openapi.json answers the same document anyone can fetch; /api/me answers what it declares."""
    status, doc = await api.call("GET", "/api/openapi.json", None)
    assert status == 200 and "/api/openapi.json" in doc["paths"]
    async with api.http.get(api.base + "/api/me", headers={"Authorization": f"Bearer {token('u1')}"}) as resp:
        me = msgspec.json.decode(await resp.read(), type=Me)
    assert me == Me(user_id="u1", role="resident", community_id="c1")
