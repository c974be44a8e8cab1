"""Neighbourhood points: redemptions that never overdraw the points or the stock however many run at
once, a retried redemption that redeems once, vouchers the office takes once, volunteer awards inside
the grid, the rates, and every bad input a clear 4xx that changes nothing (real SQL, real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community import rewards
from community.accounts import NotEnoughPoints, points_balance, post_points
from community.api import create_community
from infra.auth import Principal
from infra.errors import Conflict, NotFound
from infra.settings import Settings
from infra.tables import audit_log, points_ledger, redemptions, residents
from infra.tables import rewards as rewards_table
from linli.app import create_app
from tests.live import SECRET, Api, token

OPERATOR = token("root", "operator", None)
ADMIN1, ADMIN2 = token("adm1", "admin", "c1"), token("adm2", "admin", "c2")
HOST1 = token("host1", "host")
GRID1, GRID2 = token("grid1", "grid"), token("grid2", "grid")
FARM = token("farm1", "supplier", "c1")
PICKUP = token("pick1", "pickup")


def _resident(user: str, community: str = "c1") -> Principal:
    return Principal(user_id=user, role="resident", community_id=community)


async def _people(engine: AsyncEngine, *users: str, community: str = "c1", grid: str | None = None) -> None:
    async with engine.begin() as conn:
        for user in users:
            await conn.execute(residents.insert().values(id=user, community_id=community, name=f"居民{user}",
                                                         grid_worker_id=grid))


async def _credit(engine: AsyncEngine, user: str, points: int, cause: str = "gift") -> None:
    async with engine.begin() as conn:
        await post_points(conn, entry_id=f"{cause}:{user}", user_id=user, points=points, reason="volunteer",
                          community_id="c1")


async def _reward(engine: AsyncEngine, rid: str, points: int, *, kind: str = "goods", stock: int | None = None,
                  value_cents: int = 0, community: str = "c1") -> None:
    await rewards.create_reward(engine, community, rewards.NewReward(id=rid, title=f"奖品{rid}", points=points,
                                                                     kind=kind,  # type: ignore[arg-type]
                                                                     stock=stock, value_cents=value_cents))


async def _ledger_totals(engine: AsyncEngine, user: str) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        credits = await conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(points_ledger.c.points), 0))
                                    .where(points_ledger.c.user_id == user, points_ledger.c.points > 0))
        debits = await conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(-points_ledger.c.points), 0))
                                   .where(points_ledger.c.user_id == user, points_ledger.c.points < 0))
        return int(credits or 0), int(debits or 0), await points_balance(conn, user)


async def test_concurrent_redemptions_never_overdraw_the_points(engine: AsyncEngine) -> None:
    """40 redemptions of a 7-point reward at once against 100 points: exactly 14 pass, the balance ends at
    2, debits never exceed credits, and each refusal is NotEnoughPoints with nothing posted."""
    await create_community(engine, "c1", "幸福里")
    await _people(engine, "wang")
    await _credit(engine, "wang", 100)
    await _reward(engine, "soap", 7)

    async def one(n: int) -> str:
        try:
            await rewards.redeem(engine, _resident("wang"), "soap", f"req-{n}")
            return "ok"
        except NotEnoughPoints:
            return "refused"

    outcomes = await asyncio.gather(*(one(n) for n in range(40)))
    assert outcomes.count("ok") == 14 and outcomes.count("refused") == 26
    credits, debits, balance = await _ledger_totals(engine, "wang")
    assert (credits, debits, balance) == (100, 98, 2)
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(redemptions)) == 14


async def test_concurrent_redemptions_never_take_the_stock_below_zero(engine: AsyncEngine) -> None:
    """30 residents redeem the last 5 of a reward at once: 5 pass, 25 are out_of_stock with their points
    untouched, and the stock ends at 0."""
    await create_community(engine, "c1", "幸福里")
    users = [f"u{n}" for n in range(30)]
    await _people(engine, *users)
    for user in users:
        await _credit(engine, user, 50)
    await _reward(engine, "rice", 20, stock=5)

    async def one(user: str) -> str:
        try:
            await rewards.redeem(engine, _resident(user), "rice", "first")
            return "ok"
        except Conflict as exc:
            return exc.code

    outcomes = await asyncio.gather(*(one(user) for user in users))
    assert outcomes.count("ok") == 5 and outcomes.count("out_of_stock") == 25
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(rewards_table.c.stock).where(rewards_table.c.id == "rice")) == 0
        balances = [await points_balance(conn, user) for user in users]
    assert sorted(balances) == [30] * 5 + [50] * 25


async def test_a_retried_redemption_redeems_once(engine: AsyncEngine) -> None:
    """Ten copies of one request at once, then one more later: one redemption, one debit, one voucher, and
    every answer names the same redemption; the same request id for another reward is 409."""
    await create_community(engine, "c1", "幸福里")
    await _people(engine, "wang")
    await _credit(engine, "wang", 100)
    await _reward(engine, "fee", 30, kind="fee_offset", value_cents=3000)
    await _reward(engine, "soap", 5)
    answers = await asyncio.gather(*(rewards.redeem(engine, _resident("wang"), "fee", "tap-1") for _ in range(10)))
    answers.append(await rewards.redeem(engine, _resident("wang"), "fee", "tap-1"))
    assert len({a.id for a in answers}) == 1 and len({a.voucher_code for a in answers}) == 1
    assert [a.replayed for a in answers].count(False) == 1
    assert {a.balance for a in answers} == {70}
    with pytest.raises(Conflict) as refused:
        await rewards.redeem(engine, _resident("wang"), "soap", "tap-1")
    assert refused.value.code == "request_id_reused"
    assert await _ledger_totals(engine, "wang") == (100, 30, 70)
    code = answers[0].voucher_code
    assert code is not None and len(code) == 12 and not set(code) & set("01OIL")


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


async def _setup(api: Api) -> None:
    """c1 with wang and li in grid1's grid and sun in grid2's; c2 with zhou."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    await api.ok("POST", "/api/communities", OPERATOR, {"id": "c2", "name": "望江苑"})
    for grid, cid, rid, name in ((GRID1, "c1", "wang", "王玉香"), (GRID1, "c1", "li", "李建国"),
                                 (GRID2, "c1", "sun", "孙玉兰"),
                                 (token("gridc2", "grid", "c2"), "c2", "zhou", "周秀英")):
        await api.ok("POST", f"/api/communities/{cid}/residents", grid, {"id": rid, "name": name})


async def _code(api: Api, method: str, path: str, tok: str | None, body: Any = None) -> tuple[int, str]:
    status, data = await api.call(method, path, tok, body)
    return status, (data.get("error", {}).get("code", "") if isinstance(data, dict) else "")


async def _snapshot(engine: AsyncEngine) -> list[Any]:
    """Every ledger row a refusal must leave as it was."""
    async with engine.connect() as conn:
        return [sorted(map(tuple, (await conn.execute(sa.select(table))).all()), key=repr)
                for table in (points_ledger, rewards_table, redemptions, audit_log)]


async def test_volunteer_awards_stay_inside_the_grid_and_a_retry_adds_nothing(api: Api, engine: AsyncEngine) -> None:
    """A grid worker awards residents of her own grid, a host or admin anyone of the community; another grid's
    resident, an unknown one, another community's and every other role are refused and change nothing; the
    award is in the resident's statement (volunteer, with its reason) and her audit log, once per request id."""
    await _setup(api)
    path = "/api/communities/c1/points/awards"

    def award(rid: str, request_id: str, points: int = 10) -> dict[str, Any]:
        return {"resident_id": rid, "points": points, "reason": "帮忙分拣", "request_id": request_id}

    before = await _snapshot(engine)
    refused = [
        (GRID1, path, award("sun", "a1"), 403), (GRID1, path, award("nobody", "a2"), 403),
        (GRID1, path, award("zhou", "a3"), 403), (token("wang"), path, award("li", "a4"), 403),
        (FARM, path, award("wang", "a5"), 403), (PICKUP, path, award("wang", "a6"), 403),
        (ADMIN2, path, award("wang", "a7"), 403),
        (HOST1, "/api/communities/c2/points/awards", award("zhou", "a8"), 403),
        (GRID1, path, award("wang", "a9", 0), 400), (GRID1, path, award("wang", "a10", 1001), 400),
        (GRID1, path, {**award("wang", "a11"), "reason": ""}, 400),
        (GRID1, path, {**award("wang", "a12"), "reason": "   "}, 400),
        (GRID1, path, {**award("wang", "a13"), "request_id": "a b"}, 400),
        (GRID1, path, {**award("wang", "a14"), "extra": 1}, 400), (None, path, award("wang", "a15"), 401),
    ]
    for tok, where, body, expected in refused:
        status, code = await _code(api, "POST", where, tok, body)
        assert status == expected and code, (body, status, code)
    assert await _snapshot(engine) == before
    first = await api.ok("POST", path, GRID1, award("wang", "r1"))
    again = await api.ok("POST", path, GRID1, award("wang", "r1"))
    assert (first["replayed"], again["replayed"], again["balance"]) == (False, True, 10)
    assert await _code(api, "POST", path, GRID1, award("li", "r1")) == (409, "request_id_reused")
    await api.ok("POST", path, HOST1, award("sun", "h1", 5))
    await api.ok("POST", path, ADMIN1, award("sun", "h1", 7))  # another awarder's request id is another award
    await api.ok("POST", path, OPERATOR, award("wang", "o1", 3))
    mine = await api.ok("GET", "/api/me/points", token("wang"))
    assert mine["balance"] == 13
    assert [(e["delta"], e["reason"], e["note"]) for e in mine["entries"]] == [
        (3, "volunteer", "帮忙分拣"), (10, "volunteer", "帮忙分拣")]
    assert (await api.ok("GET", "/api/me/points", token("sun")))["balance"] == 12
    async with engine.connect() as conn:
        logged = (await conn.execute(sa.select(audit_log.c.actor_id, audit_log.c.action)
                                     .where(audit_log.c.resident_id == "wang").order_by(audit_log.c.id))).all()
    assert [tuple(r) for r in logged] == [("grid1", "points_awarded"), ("root", "points_awarded")]


async def test_the_points_statement_pages_newest_first(api: Api, engine: AsyncEngine) -> None:
    """Entries come newest first, ``limit`` at a time, ``before`` continuing; a bad limit or another's entry
    id is a 4xx; the balance counts every entry."""
    await _setup(api)
    async with engine.begin() as conn:
        for n in range(7):
            await post_points(conn, entry_id=f"bag:b{n}:wang", user_id="wang", points=n + 1, reason="lucky_bag",
                              at=datetime(2026, 11, 1 + n, tzinfo=UTC))
        await post_points(conn, entry_id="bag:b0:li", user_id="li", points=1, reason="lucky_bag")
    seen: list[str] = []
    page = await api.ok("GET", "/api/me/points?limit=3", token("wang"))
    while True:
        assert page["balance"] == 28
        seen += [e["id"] for e in page["entries"]]
        if not page["more"]:
            break
        page = await api.ok("GET", f"/api/me/points?limit=3&before={seen[-1]}", token("wang"))
    assert seen == [f"bag:b{n}:wang" for n in reversed(range(7))]
    for query, expected in (("limit=0", 400), ("limit=101", 400), ("limit=x", 400), ("before=bag:b0:li", 404)):
        assert (await _code(api, "GET", f"/api/me/points?{query}", token("wang")))[0] == expected, query
    assert (await _code(api, "GET", "/api/me/points", FARM))[0] == 403


async def test_rewards_redemptions_and_a_voucher_taken_once(api: Api, engine: AsyncEngine) -> None:
    """The admin offers goods and a fee offset; residents see them and redeem over HTTP (409 when short of
    points); the voucher is verified once by its own community's office, then already_used; unknown codes
    and another community's office get 404; a withdrawn reward leaves the list and cannot be redeemed."""
    await _setup(api)
    rewards_path = "/api/communities/c1/rewards"
    goods = {"id": "soap", "title": "香皂一块", "points": 20, "kind": "goods", "stock": 2}
    fee = {"id": "fee10", "title": "抵物业费10元", "points": 50, "kind": "fee_offset", "value_cents": 1000}
    before = await _snapshot(engine)
    for tok, body, expected in ((HOST1, goods, 403), (GRID1, goods, 403), (token("wang"), goods, 403),
                                (ADMIN2, goods, 403), (FARM, goods, 403),
                                (ADMIN1, {**fee, "value_cents": 0}, 400), (ADMIN1, {**goods, "points": 0}, 400),
                                (ADMIN1, {**goods, "kind": "cash"}, 400), (ADMIN1, {**goods, "title": " "}, 400),
                                (ADMIN1, {**goods, "stock": -1}, 400), (ADMIN1, {**goods, "id": "a:b"}, 400)):
        status, code = await _code(api, "POST", rewards_path, tok, body)
        assert status == expected and code, (tok, body, status, code)
    assert await _snapshot(engine) == before
    await api.ok("POST", rewards_path, ADMIN1, goods)
    await api.ok("POST", rewards_path, OPERATOR, fee)
    assert await _code(api, "POST", rewards_path, ADMIN1, goods) == (409, "reward_exists")
    listed = await api.ok("GET", rewards_path, token("wang"))
    assert [r["id"] for r in listed["rewards"]] == ["soap", "fee10"]
    assert (await _code(api, "GET", rewards_path, FARM))[0] == 403
    assert (await _code(api, "GET", rewards_path, token("zhou", community="c2")))[0] == 403

    await api.ok("POST", "/api/communities/c1/points/awards", GRID1,
                 {"resident_id": "wang", "points": 60, "reason": "值班", "request_id": "w1"})
    before = await _snapshot(engine)
    assert await _code(api, "POST", "/api/rewards/fee10/redeem", token("li"), {"request_id": "x1"}) == (
        409, "not_enough_points")
    assert await _code(api, "POST", "/api/rewards/nope/redeem", token("wang"), {"request_id": "x2"}) == (
        404, "unknown_reward")
    assert await _code(api, "POST", "/api/rewards/fee10/redeem", token("zhou", community="c2"),
                       {"request_id": "x3"}) == (404, "unknown_reward")
    assert (await _code(api, "POST", "/api/rewards/fee10/redeem", token("wang"), {}))[0] == 400
    assert (await _code(api, "POST", "/api/rewards/fee10/redeem", FARM, {"request_id": "x4"}))[0] == 403
    assert await _snapshot(engine) == before
    redeemed = await api.ok("POST", "/api/rewards/fee10/redeem", token("wang"), {"request_id": "x5"})
    assert (redeemed["balance"], redeemed["status"], redeemed["value_cents"]) == (10, "issued", 1000)
    code = redeemed["voucher_code"]
    assert await _code(api, "POST", "/api/rewards/soap/redeem", token("wang"), {"request_id": "x6"}) == (
        409, "not_enough_points")
    mine = await api.ok("GET", "/api/me/redemptions", token("wang"))
    assert [(r["title"], r["voucher_code"], r["status"]) for r in mine["redemptions"]] == [
        ("抵物业费10元", code, "issued")]
    points = await api.ok("GET", "/api/me/points", token("wang"))
    newest = points["entries"][0]
    assert (newest["delta"], newest["reason"], newest["note"]) == (-50, "redeemed", "抵物业费10元")

    verify = "/api/communities/c1/vouchers/verify"
    for tok, where, body, expected in ((HOST1, verify, {"code": code}, (403, "forbidden")),
                                       (token("wang"), verify, {"code": code}, (403, "forbidden")),
                                       (ADMIN2, "/api/communities/c2/vouchers/verify", {"code": code},
                                        (404, "unknown_voucher")),
                                       (ADMIN1, verify, {"code": "ABCDEFGHJKMN"}, (404, "unknown_voucher")),
                                       (ADMIN1, verify, {"code": ""}, (400, "bad_request"))):
        assert await _code(api, "POST", where, tok, body) == expected, (where, body)
    typed = f"{code[:4].lower()} {code[4:8]}-{code[8:]}"
    taken = await api.ok("POST", verify, ADMIN1, {"code": typed})
    assert (taken["resident_name"], taken["value_cents"], taken["title"]) == ("王玉香", 1000, "抵物业费10元")
    assert await _code(api, "POST", verify, ADMIN1, {"code": code}) == (409, "already_used")
    mine = await api.ok("GET", "/api/me/redemptions", token("wang"))
    assert mine["redemptions"][0]["status"] == "verified" and mine["redemptions"][0]["verified_at"]

    assert (await _code(api, "PATCH", f"{rewards_path}/soap", HOST1, {"active": False}))[0] == 403
    assert await _code(api, "PATCH", f"{rewards_path}/nope", ADMIN1, {"active": False}) == (404, "unknown_reward")
    await api.ok("PATCH", f"{rewards_path}/soap", ADMIN1, {"active": False})
    assert [r["id"] for r in (await api.ok("GET", rewards_path, token("wang")))["rewards"]] == ["fee10"]
    assert [r["id"] for r in (await api.ok("GET", f"{rewards_path}?all=1", ADMIN1))["rewards"]] == ["soap", "fee10"]
    await api.ok("POST", "/api/communities/c1/points/awards", GRID1,
                 {"resident_id": "li", "points": 30, "reason": "值班", "request_id": "l1"})
    assert await _code(api, "POST", "/api/rewards/soap/redeem", token("li"), {"request_id": "y1"}) == (
        409, "reward_withdrawn")


async def test_the_rates_are_read_by_the_community_and_set_by_its_admin(api: Api) -> None:
    """Anyone of the community reads the rates (not a supplier, not another community); only its admin or an
    operator sets them; values out of range or unknown fields are 400 and change nothing."""
    await _setup(api)
    path = "/api/communities/c1/settings"
    assert await api.ok("GET", path, token("wang")) == {"community_id": "c1", "points_per_yuan": 1,
                                                        "fund_share_bp": 1000, "pickup_days": 3}
    for tok in (FARM, token("zhou", community="c2"), ADMIN2):
        assert (await _code(api, "GET", path, tok))[0] == 403
    for tok, body, expected in ((HOST1, {"points_per_yuan": 2}, 403), (GRID1, {"points_per_yuan": 2}, 403),
                                (ADMIN2, {"points_per_yuan": 2}, 403), (ADMIN1, {"points_per_yuan": 101}, 400),
                                (ADMIN1, {"fund_share_bp": 5001}, 400), (ADMIN1, {"pickup_days": 0}, 400),
                                (ADMIN1, {"pickup_days": 31}, 400), (ADMIN1, {}, 400),
                                (ADMIN1, {"fund_share": 0.2}, 400), (ADMIN1, {"points_per_yuan": "2"}, 400)):
        status, code = await _code(api, "PATCH", path, tok, body)
        assert status == expected and code, (body, status)
    assert (await api.ok("GET", path, HOST1))["points_per_yuan"] == 1
    changed = await api.ok("PATCH", path, ADMIN1, {"points_per_yuan": 2, "fund_share_bp": 500})
    assert (changed["points_per_yuan"], changed["fund_share_bp"], changed["pickup_days"]) == (2, 500, 3)
    assert (await api.ok("PATCH", path, OPERATOR, {"pickup_days": 7}))["pickup_days"] == 7


async def test_a_voucher_verified_at_once_by_many_is_taken_once(engine: AsyncEngine) -> None:
    """Ten verifications of one code at once: one takes it, nine are already_used; another community's office
    finds no such voucher."""
    await create_community(engine, "c1", "幸福里")
    await create_community(engine, "c2", "望江苑")
    await _people(engine, "wang")
    await _credit(engine, "wang", 100)
    await _reward(engine, "fee", 40, kind="fee_offset", value_cents=2000)
    code = (await rewards.redeem(engine, _resident("wang"), "fee", "v1")).voucher_code
    assert code is not None
    office = Principal(user_id="adm1", role="admin", community_id="c1")

    async def one() -> str:
        try:
            await rewards.verify_voucher(engine, office, "c1", code)
            return "ok"
        except Conflict as exc:
            return exc.code

    outcomes = await asyncio.gather(*(one() for _ in range(10)))
    assert (outcomes.count("ok"), outcomes.count("already_used")) == (1, 9)
    with pytest.raises(NotFound) as unknown:
        await rewards.verify_voucher(engine, Principal(user_id="adm2", role="admin", community_id="c2"), "c2", code)
    assert unknown.value.code == "unknown_voucher"
