"""HTTP routes of pickup points: buildings' coordinates, a resident's default point, pickup staff."""

from __future__ import annotations

from aiohttp import web

from community import pickup_points
from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.errors import Forbidden, NotFound
from infra.http import authenticate, json_response, read_body, require


def _in_community(request: web.Request, *roles: str) -> str:
    principal = require(request, *roles)
    cid = request.match_info["cid"]
    if not principal.can_act_in(cid):
        raise Forbidden("that is another community")
    return cid


@endpoint(request=pickup_points.NewBuilding, response=pickup_points.Building, status=201, roles=("host",))
async def post_building(request: web.Request) -> web.Response:
    """Where a building stands (add or move it), so its residents' nearest pickup point is found: hosts and admins."""
    cid = _in_community(request, "host")
    body = await read_body(request, pickup_points.NewBuilding)
    return json_response(await pickup_points.set_building(request.app[RESOURCES].engine, cid, body), 201)


@endpoint(request=pickup_points.StaffBinding, response=pickup_points.BoundStaff, status=201, roles=("host",))
async def post_pickup_staff(request: web.Request) -> web.Response:
    """Bind a pickup staff member (role pickup) to one point of the community; binding again moves her:
    hosts and admins. A point of another community is 404."""
    principal = authenticate(request)
    cid = _in_community(request, "host")
    body = await read_body(request, pickup_points.StaffBinding)
    bound = await pickup_points.bind_staff(request.app[RESOURCES].engine, cid, body, added_by=principal.user_id)
    return json_response(bound, 201)


@endpoint(response=pickup_points.MyPickupPoint)
async def get_my_pickup_point(request: web.Request) -> web.Response:
    """The caller's pickup point: pickup staff the point they are bound to, a resident her default point."""
    principal = authenticate(request)
    engine = request.app[RESOURCES].engine
    if principal.role == "pickup":
        bound = await pickup_points.staff_point(engine, principal.user_id)
        if bound is None:
            raise NotFound("you are bound to no pickup point yet: ask the community office", code="not_bound")
        return json_response(pickup_points.MyPickupPoint(pickup_point=bound[1], chosen=True))
    return json_response(await pickup_points.default_point(engine, principal.user_id))


@endpoint(request=pickup_points.PointChoice, response=pickup_points.MyPickupPoint, roles=("resident",))
async def put_my_pickup_point(request: web.Request) -> web.Response:
    """A resident chooses her default pickup point (null: the nearest again)."""
    principal = require(request, "resident")
    body = await read_body(request, pickup_points.PointChoice)
    return json_response(await pickup_points.choose_point(request.app[RESOURCES].engine, principal.user_id,
                                                          body.pickup_point_id))


routes = [
    web.post("/api/communities/{cid}/buildings", post_building),
    web.post("/api/communities/{cid}/pickup-staff", post_pickup_staff),
    web.get("/api/me/pickup-point", get_my_pickup_point),
    web.put("/api/me/pickup-point", put_my_pickup_point),
]
