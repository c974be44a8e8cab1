"""HTTP routes of pickups: the counter (handover, delivery, collect), a resident's orders and their
QR codes, changing an order's point, and the expired orders for the community office."""

from __future__ import annotations

import re

from aiohttp import web
from limits import parse_many
from redis.exceptions import RedisError

from community.api import point_of, staff_point
from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.auth import Principal
from infra.errors import BadRequest, DomainError, Forbidden, NotFound, Unavailable
from infra.http import authenticate, json_response, problem, read_body, require
from infra.ids import ID_RE
from infra.ratelimit import LimitPolicy, RateLimited, RateLimits
from orders import counter, my_orders

# Wrong codes per staff account and per point, counted in Redis so every web process shares them:
# six digits are a million codes, and a few tries a minute keep guessing one hopeless.
WRONG_CODE_RULES = {"pickup_code.staff": "5/minute;30/hour", "pickup_code.point": "10/minute;60/hour"}
WRONG_CODES = LimitPolicy(rules={rule: parse_many(text) for rule, text in WRONG_CODE_RULES.items()}, exempt=())
OFFICE_ROLES = ("host",)  # and, through Principal.holds, the community's admins and operators
ORDER_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,96}(?!\n)$")  # the reserve script's order ids


class TooManyTries(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many wrong codes: wait {retry_after_s} s and try again")
        self.retry_after_s = retry_after_s


def _engine(request: web.Request):  # type: ignore[no-untyped-def]
    return request.app[RESOURCES].engine


async def _point(request: web.Request) -> tuple[str, str, str]:
    """(point id, its community, its name) of the URL's point; 404 when there is none."""
    pid = request.match_info["pid"]
    if not ID_RE.match(pid):
        raise NotFound(f"no pickup point {pid}", code="unknown_pickup_point")
    community, point = await point_of(_engine(request), pid)
    return pid, community, point.name


async def _staff_of(request: web.Request, pid: str, community: str, *, office: bool) -> Principal:
    """The caller, who must be pickup staff bound to this point (or, with ``office``, the
    community's host, admin or an operator); another point's staff is 403."""
    principal = authenticate(request)
    if principal.role == "pickup" and principal.can_act_in(community):
        bound = await staff_point(_engine(request), principal.user_id)
        if bound is not None and bound[1].id == pid:
            return principal
        raise Forbidden("you are pickup staff of another point", code="other_point")
    if office and principal.holds(*OFFICE_ROLES) and principal.role != "pickup" and principal.can_act_in(community):
        return principal
    raise Forbidden("this is for the staff of this pickup point")


@endpoint(response=counter.Handover, roles=("pickup", "host"))
async def get_handover(request: web.Request) -> web.Response:
    """What a point hands over: its waiting and ready pickups (``?session=`` one session's), each with
    its code, the resident's display name and orders, and each item's total: the point's staff, the
    community's hosts and admins."""
    pid, community, _ = await _point(request)
    await _staff_of(request, pid, community, office=True)
    session = request.query.get("session")
    if session is not None and not ID_RE.match(session):
        raise BadRequest("session must be a session id")
    return json_response(await counter.handover(_engine(request), pid, session))


@endpoint(request=counter.DeliveryBody, response=counter.Delivered, roles=("pickup", "host"))
async def post_delivery(request: web.Request) -> web.Response:
    """A session's delivery arrived at the point: its pickups become ready to collect (for the
    community's pickup days) and each resident is told; the point's staff, hosts and admins."""
    pid, community, name = await _point(request)
    await _staff_of(request, pid, community, office=True)
    body = await read_body(request, counter.DeliveryBody)
    return json_response(await counter.deliver(_engine(request), community, pid, name, body.session_id))


async def _wrong(limits: RateLimits, staff: str, pid: str) -> None:
    try:
        await limits.hit_rule("pickup_code.staff", staff)
        await limits.hit_rule("pickup_code.point", pid)
    except RateLimited as exc:
        raise TooManyTries(exc.retry_after_s) from exc


@endpoint(request=counter.CodeBody, response=counter.Collected, roles=("pickup",))
async def post_collect(request: web.Request) -> web.Response:
    """Collect with a code (6 digits, or a scanned QR payload): the pickup and its orders become
    collected and credit points and the fund once. Wrong codes (404 ``unknown_code``, 400 for a bad
    form) are limited per staff account and per point (429 with Retry-After)."""
    pid, community, _ = await _point(request)
    staff = await _staff_of(request, pid, community, office=False)
    limits = RateLimits(request.app[RESOURCES].redis, WRONG_CODES)
    try:
        wait = max(await limits.blocked("pickup_code.staff", staff.user_id),
                   await limits.blocked("pickup_code.point", pid))
        if wait:
            raise TooManyTries(wait)
        try:
            body = await read_body(request, counter.CodeBody)
            code = counter.read_code(body.code, pid)
            collected = await counter.collect(_engine(request), pid, code, staff.user_id)
        except (BadRequest, counter.UnknownCode):
            await _wrong(limits, staff.user_id, pid)
            raise
    except TooManyTries as exc:
        answer = problem(429, exc.code, exc.message)
        answer.headers["Retry-After"] = str(exc.retry_after_s)
        return answer
    except RedisError as exc:
        raise Unavailable("cannot check the counter's tries right now; try again shortly") from exc
    return json_response(collected)


@endpoint(response=my_orders.MyOrders)
async def get_my_orders(request: web.Request) -> web.Response:
    """The caller's orders, newest first (at most 200), each with its status, pickup point (name,
    address, hours), the 6-digit code and QR payload while it waits, and who ordered it for her."""
    principal = authenticate(request)
    return json_response(await my_orders.my_orders(_engine(request), principal.user_id))


def _order_id(request: web.Request) -> str:
    oid = request.match_info["oid"]
    if not ORDER_ID.match(oid):
        raise NotFound(f"no order {oid}", code="unknown_order")
    return oid


@endpoint(response=None, roles=(), content_type="image/svg+xml")
async def get_order_qr(request: web.Request) -> web.Response:
    """The QR code of one of the caller's orders while it waits to be collected (SVG)."""
    principal = authenticate(request)
    order = await my_orders.my_order(_engine(request), principal.user_id, _order_id(request))
    if order.pickup_qr is None:
        raise NotFound("this order has no code to show (not placed yet, or no longer waiting)", code="no_code")
    return web.Response(body=my_orders.qr_svg(order.pickup_qr), content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})


@endpoint(request=my_orders.PointChange, response=my_orders.MyOrder, roles=("resident", "grid"))
async def patch_my_order(request: web.Request) -> web.Response:
    """Change one order's pickup point until it is ready (then 409 ``too_late``): the resident, or
    her grid worker (recorded in her audit log). Someone else's order answers as a missing one."""
    principal = require(request, "resident", "grid")
    oid = _order_id(request)
    body = await read_body(request, my_orders.PointChange)
    engine = _engine(request)
    user, community, grid_worker = await my_orders.order_owner(engine, oid)
    mine = user == principal.user_id and principal.role in ("resident", "admin", "operator")
    hers = principal.role == "grid" and grid_worker == principal.user_id
    if community is None or not (mine or hers) or not principal.can_act_in(community):
        raise NotFound(f"no order {oid} of yours", code="unknown_order")
    await my_orders.change_point(engine, oid, body.pickup_point_id, community_id=community, actor=principal)
    return json_response(await my_orders.my_order(engine, user, oid))



@endpoint(response=my_orders.ExpiredOrders, roles=OFFICE_ROLES)
async def get_expired_orders(request: web.Request) -> web.Response:
    """The community's expired orders (not collected in time), for its office: hosts and admins."""
    principal = require(request, *OFFICE_ROLES)
    cid = request.match_info["cid"]
    if not principal.can_act_in(cid):
        raise Forbidden("that is another community")
    return json_response(await my_orders.expired_orders(_engine(request), cid))


routes = [
    web.get("/api/pickup-points/{pid}/handover", get_handover),
    web.post("/api/pickup-points/{pid}/deliveries", post_delivery),
    web.post("/api/pickup-points/{pid}/collect", post_collect),
    web.get("/api/me/orders", get_my_orders),
    web.get("/api/me/orders/{oid}/qr.svg", get_order_qr),
    web.patch("/api/me/orders/{oid}", patch_my_order),
    web.get("/api/communities/{cid}/expired-orders", get_expired_orders),
]
