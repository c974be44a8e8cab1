"""HTTP routes of the community room."""

from __future__ import annotations

import msgspec
from aiohttp import web

from community import audit_routes, notices, people
from community.pickup_routes import routes as pickup_point_routes
from community.registry import CommunityView, create_community
from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.errors import BadRequest, Forbidden
from infra.http import authenticate, json_response, read_body, require, whole_number
from infra.types import Id, Title


class NewCommunity(msgspec.Struct, kw_only=True):
    id: Id
    name: Title


class PickupPoints(msgspec.Struct, kw_only=True):
    pickup_points: list[people.PickupPoint]


class Residents(msgspec.Struct, kw_only=True):
    residents: list[people.ListedResident]


@endpoint(request=NewCommunity, response=CommunityView, status=201, roles=("operator",))
async def post_community(request: web.Request) -> web.Response:
    """Register a community (platform operators only)."""
    require(request, "operator")
    body = await read_body(request, NewCommunity)
    if not body.name.strip():
        raise BadRequest("name must not be blank")
    created = await create_community(request.app[RESOURCES].engine, body.id, body.name.strip())
    return json_response(created, 201)


def _in_community(request: web.Request, *roles: str) -> str:
    principal = require(request, *roles) if roles else authenticate(request)
    cid = request.match_info["cid"]
    if not principal.can_act_in(cid):
        raise Forbidden("that is another community")
    return cid


@endpoint(request=people.NewPickupPoint, response=people.PlacedPickupPoint, status=201, roles=("host",))
async def post_pickup_point(request: web.Request) -> web.Response:
    """Add a pickup point (a pharmacy, shop or locker) to a community: hosts and admins."""
    cid = _in_community(request, "host")
    point = await read_body(request, people.NewPickupPoint)
    return json_response(await people.add_pickup_point(request.app[RESOURCES].engine, cid, point), 201)


@endpoint(response=PickupPoints)
async def get_pickup_points(request: web.Request) -> web.Response:
    """The community's pickup points, for anyone of the community."""
    cid = _in_community(request)
    points = await people.pickup_point_views(request.app[RESOURCES].engine, cid)
    return json_response(PickupPoints(pickup_points=points))


@endpoint(request=people.NewResident, response=people.ResidentView, status=201, roles=("host", "grid"))
async def post_resident(request: web.Request) -> web.Response:
    """Register a resident of the community: its hosts and admins (naming her grid worker, or none), or a
    grid worker of the community into her own grid. An id registered already, anywhere, is 409."""
    principal = require(request, "host", "grid")
    cid = _in_community(request, "host", "grid")
    person = await read_body(request, people.NewResident)
    if principal.role == "grid":
        # Registering makes her the resident's grid worker, who may then read and enter her wishes:
        # that is for her own grid only, never someone else's.
        if person.grid_worker_id not in (None, principal.user_id):
            raise Forbidden("a grid worker registers residents into her own grid")
        person.grid_worker_id = principal.user_id
    return json_response(await people.add_resident(request.app[RESOURCES].engine, cid, person), 201)


@endpoint(response=Residents, roles=("grid", "host"))
async def get_residents(request: web.Request) -> web.Response:
    """Residents to act for: a grid worker sees their own grid, a host the whole community;
    ``?q=`` searches by name, building or room, or pinyin initials."""
    principal = require(request, "grid", "host")
    cid = _in_community(request, "grid", "host")
    found = await people.list_residents(request.app[RESOURCES].engine, cid, query=request.query.get("q", ""),
                                        grid_worker_id=principal.user_id if principal.role == "grid" else None)
    return json_response(Residents(residents=found))


@endpoint(request=people.ResidentEdit, response=people.ResidentView, roles=("grid", "host"))
async def patch_resident(request: web.Request) -> web.Response:
    """Correct a resident's name, household or aliases (what the group chat calls her, 开心果): her grid
    worker, or the community's hosts and admins. Someone else's resident answers 404 as an unknown one."""
    principal = require(request, "grid", "host")
    cid = _in_community(request, "grid", "host")
    body = await read_body(request, people.ResidentEdit)
    return json_response(await people.edit_resident(
        request.app[RESOURCES].engine, cid, request.match_info["rid"], body,
        grid_worker_id=principal.user_id if principal.role == "grid" else None))


def _int_query(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    return default if raw is None else whole_number(raw, name)


@endpoint(response=notices.Inbox)
async def get_notices(request: web.Request) -> web.Response:
    """The caller's notices, newest first, with the unread count; ``?limit=`` (1-100, default 50) and
    ``?before=<id>`` for older ones."""
    principal = authenticate(request)
    limit = _int_query(request, "limit", 50) or 50
    found = await notices.inbox(request.app[RESOURCES].engine, principal.user_id, limit=limit,
                                before=_int_query(request, "before", None))
    return json_response(found)


@endpoint(request=notices.MarkRead, response=notices.Unread)
async def post_notices_read(request: web.Request) -> web.Response:
    """Mark some of the caller's notices read (``ids``), or all of them (``all: true``)."""
    principal = authenticate(request)
    body = await read_body(request, notices.MarkRead)
    if not body.all and body.ids is None:
        raise BadRequest("give ids, or all: true")
    ids = None if body.all else body.ids
    return json_response(await notices.mark_read(request.app[RESOURCES].engine, principal.user_id, ids))


routes = [
    web.post("/api/communities", post_community),
    web.post("/api/communities/{cid}/pickup-points", post_pickup_point),
    web.get("/api/communities/{cid}/pickup-points", get_pickup_points),
    web.post("/api/communities/{cid}/residents", post_resident),
    web.get("/api/communities/{cid}/residents", get_residents),
    *pickup_point_routes,
    web.patch("/api/communities/{cid}/residents/{rid}", patch_resident),
    web.get("/api/notices", get_notices),
    web.post("/api/notices/read", post_notices_read),
    *audit_routes.routes,
]
