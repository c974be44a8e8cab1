"""HTTP routes of the residents' audit log: who did what with her orders, points and data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from aiohttp import web

from community.audit import actions_on
from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.http import json_response, require
from infra.tables import residents


class AuditLine(msgspec.Struct, kw_only=True):
    id: int
    actor_id: str
    actor_name: str  # the actor's registered name, "" when she has none on record (staff)
    actor_role: str  # grid, host, admin, operator, pickup
    action: str  # proxy_grab, points_awarded, ...
    detail: dict[str, Any]
    at: datetime


class AuditLog(msgspec.Struct, kw_only=True):
    entries: list[AuditLine]


@endpoint(response=AuditLog, roles=("resident",))
async def get_my_audit(request: web.Request) -> web.Response:
    """What others did for or with the caller's orders and points (a grid worker's proxy grab, a
    point award), newest first; a resident reads her own log only."""
    principal = require(request, "resident")
    engine = request.app[RESOURCES].engine
    found = await actions_on(engine, principal.user_id)
    names: dict[str, str] = {}
    actors = sorted({entry.actor_id for entry in found})
    if actors:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(residents.c.id, residents.c.name).where(residents.c.id.in_(actors)))
            names = {r.id: r.name for r in rows}
    return json_response(AuditLog(entries=[
        AuditLine(id=e.id, actor_id=e.actor_id, actor_name=names.get(e.actor_id, ""), actor_role=e.actor_role,
                  action=e.action, detail=e.detail, at=e.at) for e in found]))


routes = [web.get("/api/me/audit", get_my_audit)]
