"""The community development fund's public report and its spending.

Income is posted by ``accounts.credit_collection`` when an order is collected (once per order);
spending by the community's admin, never past the balance (``accounts.post_fund``). Months are
counted in China Standard Time, the communities' own calendar: an order collected at 00:30 on
1 December in Beijing is December's income.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Annotated

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncEngine

from community.accounts import fund_balance, lock_account, post_fund
from community.errors import CommunityNotFound
from infra.errors import BadRequest
from infra.tables import communities, fund_entries
from infra.types import Id

CHINA = timezone(timedelta(hours=8), "CST")
MAX_SPENDING_CENTS = 100_000_000_00  # a hundred million yuan: beyond any community's fund, so a typo


class MonthIncome(msgspec.Struct, kw_only=True):
    month: str  # 2026-11
    amount_cents: int
    orders: int  # collected orders that paid into it


class SpendingRecord(msgspec.Struct, kw_only=True):
    id: str
    project: str
    amount_cents: int
    note: str
    by: str | None  # the admin who recorded it
    at: int  # epoch ms


class ProjectSpending(msgspec.Struct, kw_only=True):
    project: str
    amount_cents: int
    records: list[SpendingRecord]  # newest first


class FundReport(msgspec.Struct, kw_only=True):
    community_id: str
    name: str
    balance_cents: int
    share: float  # the community's share of merchant revenue, as a fraction (0.1)
    income_cents: int  # all income ever
    spent_cents: int  # all spending ever
    income: list[MonthIncome]  # newest month first
    spending: list[ProjectSpending]  # largest project first


class NewSpending(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    project: Annotated[str, Meta(min_length=1, max_length=200)]
    amount_cents: Annotated[int, Meta(ge=1, le=MAX_SPENDING_CENTS)]
    note: Annotated[str, Meta(max_length=500, description="the approval: who decided, where it is minuted")] = ""
    request_id: Annotated[Id, Meta(description="a retry with the same id posts once")] | None = None


class Spent(SpendingRecord, kw_only=True):
    balance_cents: int
    replayed: bool


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def report(engine: AsyncEngine, community_id: str) -> FundReport:
    """Balance, share, income by month and spending by project, each record listed."""
    async with engine.connect() as conn:
        home = (await conn.execute(sa.select(communities.c.name, communities.c.fund_share_bp)
                                   .where(communities.c.id == community_id))).first()
        if home is None:
            raise CommunityNotFound(f"no community {community_id}")
        rows = (await conn.execute(sa.select(fund_entries).where(fund_entries.c.community_id == community_id)
                                   .order_by(fund_entries.c.created_at.desc(), fund_entries.c.id.desc()))).all()
        balance = await fund_balance(conn, community_id)
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    projects: dict[str, list[SpendingRecord]] = defaultdict(list)
    for r in rows:
        if r.kind == "income":
            month = months[r.created_at.astimezone(CHINA).strftime("%Y-%m")]
            month[0] += r.amount_cents
            month[1] += 1
        else:
            projects[r.project].append(SpendingRecord(id=r.id, project=r.project, amount_cents=r.amount_cents,
                                                      note=r.note, by=r.actor_id, at=_ms(r.created_at)))
    income = [MonthIncome(month=m, amount_cents=a, orders=n) for m, (a, n) in sorted(months.items(), reverse=True)]
    spending = sorted((ProjectSpending(project=p, amount_cents=sum(s.amount_cents for s in records), records=records)
                       for p, records in projects.items()), key=lambda p: (-p.amount_cents, p.project))
    return FundReport(community_id=community_id, name=home.name, balance_cents=balance,
                      share=home.fund_share_bp / 10_000, income_cents=sum(m.amount_cents for m in income),
                      spent_cents=sum(p.amount_cents for p in spending), income=income, spending=spending)


async def spend(engine: AsyncEngine, community_id: str, actor_id: str, body: NewSpending) -> Spent:
    """Record a spending; FundOverdrawn (409) past the balance; a retried request id posts once."""
    project = body.project.strip()
    if not project:
        raise BadRequest("name the project")
    entry_id = f"spend:{community_id}:{body.request_id or secrets.token_hex(12)}"
    async with engine.begin() as conn:
        # The lock before any read: on SQLite the first write opens the transaction, so everything
        # after it reads what the last committed spending left.
        await lock_account(conn, f"fund:{community_id}")
        if not await conn.scalar(sa.select(communities.c.id).where(communities.c.id == community_id)):
            raise CommunityNotFound(f"no community {community_id}")
        posted = await post_fund(conn, entry_id=entry_id, community_id=community_id, kind="spending",
                                 amount_cents=body.amount_cents, project=project, note=body.note.strip(),
                                 actor_id=actor_id)
        row = (await conn.execute(sa.select(fund_entries).where(fund_entries.c.id == entry_id))).one()
        balance = await fund_balance(conn, community_id)
    return Spent(id=row.id, project=row.project, amount_cents=row.amount_cents, note=row.note, by=row.actor_id,
                 at=_ms(row.created_at), balance_cents=balance, replayed=not posted)
