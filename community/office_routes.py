"""HTTP routes of the community's ledgers: rates, points and volunteer awards, rewards and
vouchers, the fund. Mounted with the rest of the room's routes (``community.routes``)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from community import fund, points, rates, rewards
from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.auth import Principal
from infra.errors import BadRequest, Forbidden
from infra.http import json_response, read_body, require, whole_number
from infra.ids import ID_RE, ID_RULE

# Everyone who lives or works in a community reads its rates, rewards and fund; a supplier, who
# serves several communities, does not.
PEOPLE = ("resident", "host", "grid", "pickup")


class RewardChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    active: bool


def _in(request: web.Request, *roles: str) -> tuple[Principal, str]:
    principal = require(request, *roles)
    cid = request.match_info["cid"]
    if not principal.can_act_in(cid):
        raise Forbidden("that is another community")
    return principal, cid


def _id(request: web.Request, name: str) -> str:
    raw = request.match_info[name]
    if not ID_RE.match(raw):
        raise BadRequest(f"{name} must be {ID_RULE}")
    return raw


@endpoint(response=rates.Rates, roles=PEOPLE)
async def get_settings(request: web.Request) -> web.Response:
    """The community's rates: points per yuan, the fund's share, days to collect; anyone of the community."""
    _, cid = _in(request, *PEOPLE)
    return json_response(await rates.rates_of(request.app[RESOURCES].engine, cid))


@endpoint(request=rates.RatesChange, response=rates.Rates, roles=("admin",))
async def patch_settings(request: web.Request) -> web.Response:
    """Set any of the rates: the community's admin (or an operator)."""
    _, cid = _in(request, "admin")
    change = await read_body(request, rates.RatesChange)
    return json_response(await rates.change_rates(request.app[RESOURCES].engine, cid, change))


@endpoint(response=points.PointsStatement, roles=("resident",))
async def get_my_points(request: web.Request) -> web.Response:
    """The caller's points: balance and entries, newest first; ``?limit=`` (1-100, default 50) and
    ``?before=<entry id>`` for older ones."""
    principal = require(request, "resident")
    limit = whole_number(request.query.get("limit", "50"), "limit", least=1, most=points.MAX_PAGE)
    before = request.query.get("before")
    if before is not None and not 0 < len(before) <= 160:
        raise BadRequest("before must be an entry id")
    found = await points.statement(request.app[RESOURCES].engine, principal.user_id, limit=limit, before=before)
    return json_response(found)


@endpoint(request=points.Award, response=points.Awarded, status=201, roles=("grid", "host"))
async def post_award(request: web.Request) -> web.Response:
    """Award a volunteer points: a grid worker to a resident of her grid, a host or admin to anyone of
    the community; recorded in her audit log; a retried request id adds nothing."""
    principal, cid = _in(request, "grid", "host")
    body = await read_body(request, points.Award)
    return json_response(await points.award(request.app[RESOURCES].engine, principal, cid, body), 201)


@endpoint(request=rewards.NewReward, response=rewards.RewardView, status=201, roles=("admin",))
async def post_reward(request: web.Request) -> web.Response:
    """Offer a reward (goods, or a property-fee offset): the community's admin."""
    _, cid = _in(request, "admin")
    new = await read_body(request, rewards.NewReward)
    return json_response(await rewards.create_reward(request.app[RESOURCES].engine, cid, new), 201)


@endpoint(response=rewards.RewardList, roles=PEOPLE)
async def get_rewards(request: web.Request) -> web.Response:
    """The rewards on offer, cheapest first; the admin with ``?all=1`` sees withdrawn ones too."""
    principal, cid = _in(request, *PEOPLE)
    everything = request.query.get("all") == "1" and principal.role in ("admin", "operator")
    return json_response(await rewards.list_rewards(request.app[RESOURCES].engine, cid, everything=everything))


@endpoint(request=RewardChange, response=rewards.RewardView, roles=("admin",))
async def patch_reward(request: web.Request) -> web.Response:
    """Withdraw a reward (``active: false``) or offer it again: the community's admin."""
    _, cid = _in(request, "admin")
    rid = _id(request, "rid")
    body = await read_body(request, RewardChange)
    return json_response(await rewards.set_active(request.app[RESOURCES].engine, cid, rid, body.active))


@endpoint(request=rewards.Redeem, response=rewards.Redeemed, status=201, roles=("resident",))
async def post_redeem(request: web.Request) -> web.Response:
    """Exchange the caller's points for a reward of her community; a fee offset gives a voucher code.
    409 ``not_enough_points``, ``out_of_stock``, ``reward_withdrawn``; a retried request id redeems once."""
    principal = require(request, "resident")
    rid = _id(request, "rid")
    body = await read_body(request, rewards.Redeem)
    return json_response(await rewards.redeem(request.app[RESOURCES].engine, principal, rid, body.request_id), 201)


@endpoint(response=rewards.RedemptionList, roles=("resident",))
async def get_my_redemptions(request: web.Request) -> web.Response:
    """The caller's redemptions and vouchers, newest first."""
    principal = require(request, "resident")
    return json_response(await rewards.redemptions_of(request.app[RESOURCES].engine, principal.user_id))


@endpoint(request=rewards.VoucherCheck, response=rewards.VoucherVerified, roles=("admin",))
async def post_verify_voucher(request: web.Request) -> web.Response:
    """The property office takes a fee-offset voucher, once: 404 ``unknown_voucher``, 409 ``already_used``."""
    principal, cid = _in(request, "admin")
    body = await read_body(request, rewards.VoucherCheck)
    return json_response(await rewards.verify_voucher(request.app[RESOURCES].engine, principal, cid, body.code))


@endpoint(response=fund.FundReport, roles=PEOPLE)
async def get_fund(request: web.Request) -> web.Response:
    """The community fund's public report: balance, share, income by month, spending by project."""
    _, cid = _in(request, *PEOPLE)
    return json_response(await fund.report(request.app[RESOURCES].engine, cid))


@endpoint(request=fund.NewSpending, response=fund.Spent, status=201, roles=("admin",))
async def post_spending(request: web.Request) -> web.Response:
    """Record a spending of the fund (project, amount, approval note): the community's admin;
    409 ``fund_overdrawn`` past the balance; a retried request id posts once."""
    principal, cid = _in(request, "admin")
    body = await read_body(request, fund.NewSpending)
    return json_response(await fund.spend(request.app[RESOURCES].engine, cid, principal.user_id, body), 201)


routes = [
    web.get("/api/communities/{cid}/settings", get_settings),
    web.patch("/api/communities/{cid}/settings", patch_settings),
    web.get("/api/me/points", get_my_points),
    web.post("/api/communities/{cid}/points/awards", post_award),
    web.post("/api/communities/{cid}/rewards", post_reward),
    web.get("/api/communities/{cid}/rewards", get_rewards),
    web.patch("/api/communities/{cid}/rewards/{rid}", patch_reward),
    web.post("/api/rewards/{rid}/redeem", post_redeem),
    web.get("/api/me/redemptions", get_my_redemptions),
    web.post("/api/communities/{cid}/vouchers/verify", post_verify_voucher),
    web.get("/api/communities/{cid}/fund", get_fund),
    web.post("/api/communities/{cid}/fund/spending", post_spending),
]
