"""Communities: the neighbourhoods linli serves."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from community.errors import CommunityExists, CommunityNotFound
from infra.tables import communities


class CommunityView(msgspec.Struct, kw_only=True):
    id: str
    name: str


async def create_community(engine: AsyncEngine, community_id: str, name: str) -> CommunityView:
    """Register a community; CommunityExists when the id is taken."""
    async with engine.begin() as conn:
        exists = await conn.scalar(sa.select(communities.c.id).where(communities.c.id == community_id))
        if exists:
            raise CommunityExists(f"community {community_id} already exists")
        try:
            await conn.execute(communities.insert().values(id=community_id, name=name, created_at=datetime.now(UTC)))
        except sa.exc.IntegrityError as exc:  # created concurrently
            raise CommunityExists(f"community {community_id} already exists") from exc
    return CommunityView(id=community_id, name=name)


async def get_community(engine: AsyncEngine, community_id: str) -> CommunityView:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(communities).where(communities.c.id == community_id))).first()
    if row is None:
        raise CommunityNotFound(f"no community {community_id}")
    return CommunityView(id=row.id, name=row.name)
