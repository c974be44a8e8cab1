"""The two ledgers a community keeps: residents' neighbourhood points and the community fund.

Both are append-only: an entry is never changed, and its id names its cause (``collected:<order>``,
``bag:<bag>:<user>``, ``redeem:<redemption>``), so posting the same cause twice adds nothing. A
balance is the sum of its entries. A debit (a redemption, a fund spending) first updates the
account's row in ``account_locks``: that row lock serialises the debits of one account on
PostgreSQL, and the write lock does on SQLite, so the balance a debit checks is the one it
leaves, and concurrent debits never overdraw.

Every function here takes the caller's connection, so a ledger entry commits with the change that
causes it (a collection, a redemption) or not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from infra.errors import Conflict, NotFound
from infra.tables import account_locks, communities, fund_entries, points_ledger


class NotEnoughPoints(Conflict):
    code = "not_enough_points"


class FundOverdrawn(Conflict):
    code = "fund_overdrawn"


def _insert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert


async def lock_account(conn: AsyncConnection, key: str) -> None:
    """Hold the account's row until the transaction ends (created on first use)."""
    await conn.execute(_insert(conn)(account_locks).values(key=key, n=0).on_conflict_do_nothing(index_elements=["key"]))
    await conn.execute(account_locks.update().where(account_locks.c.key == key).values(n=account_locks.c.n + 1))


async def points_balance(conn: AsyncConnection, user_id: str) -> int:
    total = await conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(points_ledger.c.points), 0))
                              .where(points_ledger.c.user_id == user_id))
    return int(total or 0)


async def post_points(conn: AsyncConnection, *, entry_id: str, user_id: str, points: int, reason: str,
                      community_id: str | None = None, session_id: str | None = None, ref: str | None = None,
                      note: str = "", actor_id: str | None = None, at: datetime | None = None) -> bool:
    """Add one entry; False when an entry of that id was posted already. A debit (points < 0) that
    would take the balance below zero raises NotEnoughPoints and posts nothing."""
    if points < 0:
        await lock_account(conn, f"points:{user_id}")
        if await conn.scalar(sa.select(points_ledger.c.id).where(points_ledger.c.id == entry_id)):
            return False
        balance = await points_balance(conn, user_id)
        if balance + points < 0:
            raise NotEnoughPoints(f"this needs {-points} points and the balance is {balance}")
    result = await conn.execute(_insert(conn)(points_ledger).values(
        id=entry_id, user_id=user_id, community_id=community_id, session_id=session_id, points=points,
        reason=reason, ref=ref, note=note, actor_id=actor_id, created_at=at or datetime.now(UTC),
    ).on_conflict_do_nothing(index_elements=["id"]))
    return bool(result.rowcount)


async def fund_balance(conn: AsyncConnection, community_id: str) -> int:
    signed = sa.case((fund_entries.c.kind == "income", fund_entries.c.amount_cents), else_=-fund_entries.c.amount_cents)
    total = await conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(signed), 0))
                              .where(fund_entries.c.community_id == community_id))
    return int(total or 0)


async def post_fund(conn: AsyncConnection, *, entry_id: str, community_id: str, kind: str, amount_cents: int,
                    ref: str | None = None, project: str = "", note: str = "", actor_id: str | None = None,
                    at: datetime | None = None) -> bool:
    """Add one income or spending entry (a positive amount); False when that id was posted already.
    A spending past the balance raises FundOverdrawn and posts nothing."""
    if kind not in ("income", "spending") or amount_cents <= 0:
        raise ValueError(f"a fund entry is an income or a spending of a positive amount, not {kind} {amount_cents}")
    if kind == "spending":
        await lock_account(conn, f"fund:{community_id}")
        # A retried spending posts nothing, even when the balance it left would refuse it now.
        if await conn.scalar(sa.select(fund_entries.c.id).where(fund_entries.c.id == entry_id)):
            return False
        balance = await fund_balance(conn, community_id)
        if amount_cents > balance:
            raise FundOverdrawn(f"the fund holds {balance} cents; this spends {amount_cents}")
    result = await conn.execute(_insert(conn)(fund_entries).values(
        id=entry_id, community_id=community_id, kind=kind, amount_cents=amount_cents, ref=ref, project=project,
        note=note, actor_id=actor_id, created_at=at or datetime.now(UTC),
    ).on_conflict_do_nothing(index_elements=["id"]))
    return bool(result.rowcount)


async def credit_collection(conn: AsyncConnection, *, community_id: str, user_id: str, order_id: str,
                            amount_cents: int, session_id: str | None = None) -> tuple[int, int]:
    """What a collected order earns: the resident's points (the community's rate per whole yuan)
    and the fund's share of the revenue (rounded down to the cent). Once per order, however often
    it is called; returns (points, fund cents) posted by this call."""
    rates = (await conn.execute(sa.select(communities.c.points_per_yuan, communities.c.fund_share_bp)
                                .where(communities.c.id == community_id))).first()
    if rates is None:
        raise NotFound(f"no community {community_id}", code="unknown_community")
    points = amount_cents // 100 * rates.points_per_yuan
    share = amount_cents * rates.fund_share_bp // 10_000
    posted_points = points if points > 0 and await post_points(
        conn, entry_id=f"collected:{order_id}", user_id=user_id, points=points, reason="collected",
        community_id=community_id, session_id=session_id, ref=order_id) else 0
    posted_share = share if share > 0 and await post_fund(
        conn, entry_id=f"order:{order_id}", community_id=community_id, kind="income", amount_cents=share,
        ref=order_id) else 0
    return posted_points, posted_share
