"""HTTP routes of the community room."""

from __future__ import annotations

import msgspec
from aiohttp import web

from community.registry import create_community
from infra.appkeys import RESOURCES
from infra.errors import BadRequest
from infra.http import json_response, read_body, require
from infra.ids import ID_RE, ID_RULE


class NewCommunity(msgspec.Struct, kw_only=True):
    id: str
    name: str


async def post_community(request: web.Request) -> web.Response:
    """Register a community (admin only)."""
    require(request, "admin")
    body = await read_body(request, NewCommunity)
    if not ID_RE.match(body.id):
        raise BadRequest(f"id must be {ID_RULE}")
    if not body.name.strip() or len(body.name) > 200:
        raise BadRequest("name must be 1-200 characters")
    created = await create_community(request.app[RESOURCES].engine, body.id, body.name.strip())
    return json_response(created, 201)


routes = [web.post("/api/communities", post_community)]
