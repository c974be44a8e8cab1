"""A community's rates: points per yuan collected, the fund's share of merchant revenue, and the
days an order waits at its pickup point. Read by anyone of the community, set by its admin."""

from __future__ import annotations

from typing import Annotated

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncEngine

from community.errors import CommunityNotFound
from infra.errors import BadRequest
from infra.tables import communities


class Rates(msgspec.Struct, kw_only=True):
    community_id: str
    points_per_yuan: int  # points a resident earns per whole yuan collected
    fund_share_bp: int  # the fund's share of merchant revenue, in basis points (1000 = 10%)
    pickup_days: int  # days an order waits at its point before it expires


class RatesChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Any of the three; the others stay as they are."""

    points_per_yuan: Annotated[int, Meta(ge=0, le=100)] | None = None
    fund_share_bp: Annotated[int, Meta(ge=0, le=5000, description="basis points: 1000 is 10%")] | None = None
    pickup_days: Annotated[int, Meta(ge=1, le=30)] | None = None


async def rates_of(engine: AsyncEngine, community_id: str) -> Rates:
    """The community's rates; CommunityNotFound when there is no such community."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(communities.c.points_per_yuan, communities.c.fund_share_bp,
                                            communities.c.pickup_days)
                                  .where(communities.c.id == community_id))).first()
    if row is None:
        raise CommunityNotFound(f"no community {community_id}")
    return Rates(community_id=community_id, points_per_yuan=row.points_per_yuan,
                 fund_share_bp=row.fund_share_bp, pickup_days=row.pickup_days)


async def change_rates(engine: AsyncEngine, community_id: str, change: RatesChange) -> Rates:
    """Set the rates given; an order already collected keeps what it earned."""
    values = {k: v for k, v in msgspec.structs.asdict(change).items() if v is not None}
    if not values:
        raise BadRequest("give points_per_yuan, fund_share_bp or pickup_days")
    async with engine.begin() as conn:
        done = await conn.execute(communities.update().where(communities.c.id == community_id).values(**values))
    if not done.rowcount:
        raise CommunityNotFound(f"no community {community_id}")
    return await rates_of(engine, community_id)
