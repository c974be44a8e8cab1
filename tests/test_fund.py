"""The community fund: income once per collected order, spending never past the balance however many
run at once, a report every resident of the community reads and nobody else does, and the balance
always income minus spending (a hypothesis run of random incomes and spendings, on real SQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from community import fund
from community.accounts import FundOverdrawn, credit_collection, fund_balance, post_fund
from community.api import create_community
from infra.settings import Settings
from infra.tables import communities, fund_entries, points_ledger
from linli.app import create_app
from tests.live import SECRET, Api, token

OPERATOR = token("root", "operator", None)
ADMIN1, ADMIN2 = token("adm1", "admin", "c1"), token("adm2", "admin", "c2")
HOST1, GRID1, PICKUP = token("host1", "host"), token("grid1", "grid"), token("pick1", "pickup")
FARM = token("farm1", "supplier", "c1")

# One step of a random run: collect an order (of 1-5 known orders, so some are collected again), or
# spend some cents (refused when it would overdraw).
STEP = st.one_of(st.tuples(st.just("collect"), st.integers(0, 4), st.integers(1, 50_000)),
                 st.tuples(st.just("spend"), st.integers(1, 3_000), st.integers(0, 0)))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=25), share_bp=st.integers(0, 5000))
async def test_the_balance_is_income_minus_spending_and_each_order_credits_once(
        engine: AsyncEngine, steps: list[tuple[str, int, int]], share_bp: int) -> None:
    """After random collections (orders collected again and again) and spendings (some refused), the balance
    equals the income minus the spending, never went below zero, and each order credited once."""
    cid = "f" + uuid.uuid4().hex[:12]  # a fresh community per example: the tables are not emptied between
    await create_community(engine, cid, "幸福里")
    async with engine.begin() as conn:
        await conn.execute(communities.update().where(communities.c.id == cid).values(fund_share_bp=share_bp))
    order_amounts: dict[str, int] = {}
    income = spent = 0
    for n, (kind, a, b) in enumerate(steps):
        async with engine.begin() as conn:
            if kind == "collect":
                order = f"{cid}-o{a}"
                amount = order_amounts.setdefault(order, b)  # an order's amount is its own, whoever collects it
                _, share = await credit_collection(conn, community_id=cid, user_id="wang", order_id=order,
                                                   amount_cents=amount)
                income += share
                assert share in (0, amount * share_bp // 10_000)
            else:
                try:
                    await post_fund(conn, entry_id=f"spend:{cid}:{n}", community_id=cid, kind="spending",
                                    amount_cents=a, project="楼道灯")
                    spent += a
                except FundOverdrawn:
                    assert a > income - spent
            balance = await fund_balance(conn, cid)
        assert balance == income - spent >= 0
    expected = sum(amount * share_bp // 10_000 for amount in order_amounts.values())
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(fund_entries.c.ref, fund_entries.c.amount_cents)
                                   .where(fund_entries.c.community_id == cid, fund_entries.c.kind == "income"))).all()
    assert sorted(r.ref for r in rows) == sorted(o for o, amount in order_amounts.items()
                                                 if amount * share_bp // 10_000 > 0)
    assert income == expected == sum(r.amount_cents for r in rows)


async def test_concurrent_spendings_never_overdraw_the_fund(engine: AsyncEngine) -> None:
    """30 spendings of 70.00 at once from a fund of 1000.00: 14 pass, 16 are refused, the balance ends at 20.00."""
    await create_community(engine, "c1", "幸福里")
    async with engine.begin() as conn:
        await post_fund(conn, entry_id="order:seed", community_id="c1", kind="income", amount_cents=100_000)

    async def one(n: int) -> str:
        try:
            await fund.spend(engine, "c1", "adm1", fund.NewSpending(project="楼道灯", amount_cents=7_000,
                                                                    request_id=f"s{n}"))
            return "ok"
        except FundOverdrawn:
            return "refused"

    outcomes = await asyncio.gather(*(one(n) for n in range(30)))
    assert (outcomes.count("ok"), outcomes.count("refused")) == (14, 16)
    async with engine.connect() as conn:
        assert await fund_balance(conn, "c1") == 2_000


async def test_a_collected_order_earns_points_and_the_fund_share_once(engine: AsyncEngine) -> None:
    """The same collection credited ten times at once posts its points and its share once; points are whole
    yuan times the rate, the share rounds down to the cent."""
    await create_community(engine, "c1", "幸福里")
    async with engine.begin() as conn:
        await conn.execute(communities.update().where(communities.c.id == "c1").values(points_per_yuan=2,
                                                                                        fund_share_bp=1234))

    async def collect() -> tuple[int, int]:
        async with engine.begin() as conn:
            return await credit_collection(conn, community_id="c1", user_id="wang", order_id="o1", amount_cents=4_599)

    results = await asyncio.gather(*(collect() for _ in range(10)))
    assert sorted(results, reverse=True)[0] == (90, 567) and results.count((0, 0)) == 9
    async with engine.connect() as conn:
        assert await fund_balance(conn, "c1") == 567
        assert await conn.scalar(sa.select(sa.func.sum(points_ledger.c.points))) == 90


@pytest.fixture
async def api(redis, engine, tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, database_url=database_url, secret=SECRET)
    async with TestServer(create_app(settings)) as server, aiohttp.ClientSession() as http:
        yield Api(http, str(server.make_url("")).rstrip("/"))


async def _code(api: Api, method: str, path: str, tok: str | None, body: Any = None) -> tuple[int, str]:
    status, data = await api.call(method, path, tok, body)
    return status, (data.get("error", {}).get("code", "") if isinstance(data, dict) else "")


async def _entries(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return sorted(map(tuple, (await conn.execute(sa.select(fund_entries))).all()), key=repr)


async def test_the_fund_report_is_for_the_community_and_spending_for_its_admin(api: Api, engine: AsyncEngine) -> None:
    """Residents, hosts, grid workers and pickup points of the community read the report, suppliers and other
    communities do not; only the admin (or an operator) spends; an overdraw is 409 fund_overdrawn, a bad body
    400, each changing nothing; a retried request id posts once; income is by month in China's calendar."""
    for cid, name in (("c1", "幸福里"), ("c2", "望江苑")):
        await api.ok("POST", "/api/communities", OPERATOR, {"id": cid, "name": name})
    async with engine.begin() as conn:
        # 30 Nov 23:30 UTC is 1 Dec in Beijing: December's income.
        for order, cents, at in (("o1", 50_000, datetime(2026, 10, 20, 3, tzinfo=UTC)),
                                 ("o2", 30_000, datetime(2026, 11, 5, 3, tzinfo=UTC)),
                                 ("o3", 20_000, datetime(2026, 11, 30, 23, 30, tzinfo=UTC))):
            await post_fund(conn, entry_id=f"order:{order}", community_id="c1", kind="income", amount_cents=cents,
                            ref=order, at=at)
    path, spend = "/api/communities/c1/fund", "/api/communities/c1/fund/spending"
    for tok in (token("wang"), HOST1, GRID1, PICKUP, ADMIN1, OPERATOR):
        assert (await api.call("GET", path, tok))[0] == 200
    for tok in (FARM, token("zhou", community="c2"), ADMIN2, None):
        assert (await api.call("GET", path, tok))[0] in (401, 403)
    before = await _entries(engine)
    body = {"project": "楼道灯", "amount_cents": 12_000, "note": "业委会11月决议"}
    for tok, where, sent, expected in (
            (HOST1, spend, body, (403, "forbidden")), (GRID1, spend, body, (403, "forbidden")),
            (token("wang"), spend, body, (403, "forbidden")), (FARM, spend, body, (403, "forbidden")),
            (ADMIN2, spend, body, (403, "forbidden")), (ADMIN1, "/api/communities/c2/fund/spending", body,
                                                         (403, "forbidden")),
            (ADMIN1, spend, {**body, "amount_cents": 100_001}, (409, "fund_overdrawn")),
            (ADMIN1, spend, {**body, "amount_cents": 0}, (400, "bad_request")),
            (ADMIN1, spend, {**body, "amount_cents": -5}, (400, "bad_request")),
            (ADMIN1, spend, {**body, "amount_cents": 1.5}, (400, "bad_request")),
            (ADMIN1, spend, {**body, "project": " "}, (400, "bad_request")),
            (ADMIN1, spend, {**body, "project": "x" * 201}, (400, "bad_request")),
            (ADMIN1, spend, {**body, "note": "x" * 501}, (400, "bad_request")),
            (ADMIN1, spend, {**body, "request_id": "a:b"}, (400, "bad_request")),
            (ADMIN1, spend, {"amount_cents": 100}, (400, "bad_request"))):
        assert await _code(api, "POST", where, tok, sent) == expected, (sent, expected)
    assert await _entries(engine) == before
    first = await api.ok("POST", spend, ADMIN1, {**body, "request_id": "lamp-1"})
    again = await api.ok("POST", spend, ADMIN1, {**body, "request_id": "lamp-1"})
    assert (first["replayed"], again["replayed"], again["id"], again["balance_cents"]) == (
        False, True, first["id"], 88_000)
    await api.ok("POST", spend, OPERATOR, {"project": "敬老餐", "amount_cents": 30_000})
    await api.ok("POST", spend, ADMIN1, {"project": "楼道灯", "amount_cents": 8_000, "note": "第二批"})
    report = await api.ok("GET", path, token("wang"))
    assert (report["balance_cents"], report["share"], report["income_cents"], report["spent_cents"]) == (
        50_000, 0.1, 100_000, 50_000)
    assert [(m["month"], m["amount_cents"], m["orders"]) for m in report["income"]] == [
        ("2026-12", 20_000, 1), ("2026-11", 30_000, 1), ("2026-10", 50_000, 1)]
    assert [(p["project"], p["amount_cents"], len(p["records"])) for p in report["spending"]] == [
        ("敬老餐", 30_000, 1), ("楼道灯", 20_000, 2)]
    lamp = report["spending"][1]["records"]
    assert [(r["amount_cents"], r["note"], r["by"]) for r in lamp] == [(8_000, "第二批", "adm1"),
                                                                       (12_000, "业委会11月决议", "adm1")]
    assert await _code(api, "POST", spend, ADMIN1, {"project": "x", "amount_cents": 50_001}) == (409, "fund_overdrawn")
    other = await api.ok("GET", "/api/communities/c2/fund", ADMIN2)
    assert (other["balance_cents"], other["income"], other["spending"]) == (0, [], [])
