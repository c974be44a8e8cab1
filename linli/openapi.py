"""GET /api/openapi.json: the OpenAPI 3.1 document, generated from the app's own routes.

Every route under /api/, /ws/, /healthz and /metrics is in it. What a handler takes and answers comes
from its ``@endpoint`` declaration (infra/apidoc.py) or, for the face's own handlers, from
``FACE`` below; the schemas come from the Structs through ``msgspec.json.schema_components``,
so a constraint declared on a request field shows here as it is enforced.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from aiohttp import web

from infra.apidoc import Endpoint, Problem, endpoint, endpoint_of
from infra.http import json_response

API_PREFIXES = ("/api/", "/ws/", "/healthz", "/metrics")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")  # aiohttp adds a HEAD beside each GET
REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{(\w+)")
_METHOD_PREFIX = re.compile(r"^[A-Z]+ /\S*: ")


class Me(msgspec.Struct, kw_only=True):
    user_id: str
    role: str
    community_id: str | None


class DemoLink(msgspec.Struct, kw_only=True):
    label: str
    url: str  # a page; it carries no token


class DemoPerson(msgspec.Struct, kw_only=True):
    name: str
    role: str
    user_id: str
    token: str  # the page keeps it (common.js) before it opens a link
    url: str  # this person's first page
    links: list[DemoLink]


class DemoPeople(msgspec.Struct, kw_only=True):
    session_id: str
    people: list[DemoPerson]


# The face's own handlers (linli/app.py), which build their answers inline.
FACE = {
    ("GET", "/api/me"): Endpoint(response=Me),
    ("GET", "/api/demo"): Endpoint(response=DemoPeople, roles=None),
}


def api_routes(app: web.Application) -> list[tuple[str, str, Callable[..., Any]]]:
    """(method, path template, handler) of every API route the app serves, in mounting order."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in METHODS and path and path.startswith(API_PREFIXES):
            found.append((route.method, path, route.handler))
    return found


def _summary(handler: Callable[..., Any]) -> str:
    doc = (handler.__doc__ or "").strip()
    return _METHOD_PREFIX.sub("", doc.splitlines()[0]) if doc else handler.__name__.replace("_", " ")


def _flat(kind: Any) -> tuple[Any, ...]:
    return kind if isinstance(kind, tuple) else () if kind is None else (kind,)


def build(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of ``app``."""
    routes = [(m, p, h, endpoint_of(h) or FACE.get((m, p)) or Endpoint()) for m, p, h in api_routes(app)]
    kinds = list(dict.fromkeys(k for *_, e in routes for k in (*_flat(e.request), *_flat(e.response))))
    schemas, components = msgspec.json.schema_components([Problem, *kinds], ref_template=REF)
    schema_of = dict(zip(kinds, schemas[1:], strict=True))

    paths: dict[str, dict[str, Any]] = {}
    for method, path, handler, e in routes:
        op: dict[str, Any] = {
            "operationId": f"{handler.__module__}.{handler.__name__}",
            "summary": _summary(handler),
            "tags": [handler.__module__.split(".")[0]],
            "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                           for name in _PATH_PARAM.findall(path)],
            "responses": {"101" if path.startswith("/ws/") else str(e.status): _answer(path, e, schema_of),
                          "default": {"$ref": "#/components/responses/Problem"}},
        }
        if e.request is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema_of[e.request]}}}
        if e.roles is None:
            op["security"] = []
        elif e.roles:
            op["x-roles"] = list(e.roles)
            op["description"] = (f"Needs the role {' or '.join(e.roles)}; an operator always passes, a community's "
                                  "admin passes community roles in its own community.")
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "linli", "version": _version(),
                 "description": "Livestream commerce and demand crowdfunding for residential communities."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "responses": {"Problem": {
                "description": "an error: 400 bad input, 401 token, 403 role or community, 404, 409",
                "content": {"application/json": {"schema": schemas[0]}},
            }},
        },
    }


def _answer(path: str, e: Endpoint, schema_of: dict[Any, Any]) -> dict[str, Any]:
    if path.startswith("/ws/"):
        return {"description": "Switching Protocols: the live room's websocket (docs/protocol.md)"}
    if e.content_type != "application/json":
        return {"description": e.content_type, "content": {e.content_type: {"schema": {"type": "string"}}}}
    kinds = _flat(e.response)
    if not kinds:
        return {"description": "JSON (see docs/api.md)"}
    schema = schema_of[kinds[0]] if len(kinds) == 1 else {"anyOf": [schema_of[k] for k in kinds]}
    return {"description": HTTPStatus(e.status).phrase, "content": {"application/json": {"schema": schema}}}


def _version() -> str:
    try:
        return version("linli")
    except PackageNotFoundError:
        return "0"


@endpoint(response=dict[str, Any], roles=None)
async def openapi_document(request: web.Request) -> web.Response:
    """This document: every API route with its body, answer and roles."""
    return json_response(build(request.app))


routes = [web.get("/api/openapi.json", openapi_document)]
