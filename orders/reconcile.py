"""Compare what Redis says was sold with what SQL holds, item by item."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.tables import orders
from inventory import Inventory, outbox


@dataclass(frozen=True, slots=True)
class ItemDifference:
    item_id: str
    redis_sold: int
    sql_sold: int


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The outcome for one session. Differences are only alarming when nothing is in flight."""

    session_id: str
    in_flight: int  # outbox entries not yet written to SQL
    differences: list[ItemDifference] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences


async def outbox_backlog(redis: Redis, sid: str) -> int:
    """Entries in a session's outbox not yet written to SQL (the worker deletes what it acknowledges)."""
    return int(await redis.xlen(outbox.outbox_key(sid)))


async def reconcile(inventory: Inventory, engine: AsyncEngine, sid: str) -> Reconciliation:
    """Redis sold counts against SQL's live order rows, per item of one session."""
    stock = await inventory.snapshot(sid)
    query = (
        sa.select(orders.c.item_id, sa.func.coalesce(sa.func.sum(orders.c.qty), 0))
        .where(orders.c.session_id == sid, orders.c.status.in_(("reserved", "confirmed")))
        .group_by(orders.c.item_id)
    )
    async with engine.connect() as conn:
        sql_sold = {row[0]: int(row[1]) for row in await conn.execute(query)}
    differences = [
        ItemDifference(iid, s.sold, sql_sold.get(iid, 0))
        for iid, s in stock.items()
        if s.sold != sql_sold.get(iid, 0)
    ]
    differences += [ItemDifference(iid, 0, n) for iid, n in sql_sold.items() if iid not in stock and n]
    return Reconciliation(session_id=sid, in_flight=await outbox_backlog(inventory.redis, sid),
                          differences=sorted(differences, key=lambda d: d.item_id))
