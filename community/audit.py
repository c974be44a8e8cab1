"""What others did with a resident's data: a grid worker's proxy grab, an admin's change, a
point changed for her. Every such action is recorded here, and she can read the list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infra.auth import Principal
from infra.tables import audit_log


class AuditEntry(msgspec.Struct, kw_only=True):
    id: int
    actor_id: str
    actor_role: str
    action: str  # e.g. proxy_grab, pickup_point_changed, points_awarded
    detail: dict[str, Any]
    at: datetime


async def record_action(conn: AsyncConnection, *, resident_id: str, community_id: str, actor: Principal,
                        action: str, detail: dict[str, Any] | None = None) -> None:
    """Record an action on a resident's data, in the caller's transaction; her own actions are not recorded."""
    if actor.user_id == resident_id:
        return
    await conn.execute(audit_log.insert().values(
        resident_id=resident_id, community_id=community_id, actor_id=actor.user_id, actor_role=actor.role,
        action=action, detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        created_at=datetime.now(UTC)))


async def actions_on(engine: AsyncEngine, resident_id: str, *, limit: int = 100) -> list[AuditEntry]:
    """The newest actions others took on a resident's data, newest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(audit_log).where(audit_log.c.resident_id == resident_id)
                                  .order_by(audit_log.c.id.desc()).limit(limit))
        return [AuditEntry(id=r.id, actor_id=r.actor_id, actor_role=r.actor_role, action=r.action,
                           detail=json.loads(r.detail), at=r.created_at) for r in rows]
