"""GET /healthz: 200 only when Redis and SQL both answer, 503 naming what is down."""

from __future__ import annotations

import asyncio
import os

import msgspec
from aiohttp import web

from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.db import ping
from infra.http import json_response


class Health(msgspec.Struct, kw_only=True):
    status: str  # ok or down
    redis: str  # ok, or "down: " and the reason
    sql: str
    pid: int = 0  # the answering process: behind a load balancer or `linli web --workers N`, which one


async def _check(probe: object) -> str:
    try:
        await asyncio.wait_for(probe, timeout=3)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - any failure is "down", with its reason
        return f"down: {type(exc).__name__}: {exc}".strip()
    return "ok"


@endpoint(response=Health, roles=None)
async def healthz(request: web.Request) -> web.Response:
    """Ask Redis and SQL in parallel; report each (503 when either is down)."""
    res = request.app[RESOURCES]
    redis_state, sql_state = await asyncio.gather(_check(res.redis.ping()), _check(ping(res.engine)))
    healthy = redis_state == "ok" and sql_state == "ok"
    return json_response(Health(status="ok" if healthy else "down", redis=redis_state, sql=sql_state,
                                pid=os.getpid()),
                         200 if healthy else 503)


routes = [web.get("/healthz", healthz)]
