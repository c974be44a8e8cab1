"""HTTP routes of the host's tools beside the live: the flash schedule and the insight.

Every route is for the host and the admins of the session's community (and operators); viewers
see the queue of scheduled flashes in their snapshot and in flash_scheduled events instead.
"""

from __future__ import annotations

from aiohttp import web

from infra.apidoc import endpoint
from infra.http import json_response, read_body, require
from stream import flash_schedule, insight, sessions
from stream.context import LIVE
from stream.protocol import FlashPlanView

HOST_ROLES = ("host",)


async def _hosted(request: web.Request, *allowed: str) -> sessions.SessionState:
    principal = require(request, *HOST_ROLES)
    return await sessions.host_session(request.app[LIVE], principal, request.match_info["sid"], *allowed)


@endpoint(request=flash_schedule.NewFlashPlan, response=FlashPlanView, status=201, roles=HOST_ROLES)
async def schedule_flash(request: web.Request) -> web.Response:
    """Schedule an item's flash sale for a time (starts_at, epoch ms) or in_s seconds from now; viewers see
    flash_scheduled and a countdown, and it starts on time once (flash_started with its plan_id)."""
    state = await _hosted(request, "draft", "live")
    body = await read_body(request, flash_schedule.NewFlashPlan)
    return json_response(await flash_schedule.schedule(request.app[LIVE], state, body), 201)


@endpoint(response=flash_schedule.FlashPlans, roles=HOST_ROLES)
async def list_flash_plans(request: web.Request) -> web.Response:
    """The flashes waiting to start, soonest first (the host's "next up" queue)."""
    state = await _hosted(request)
    return json_response(flash_schedule.FlashPlans(plans=await flash_schedule.pending_plans(request.app[LIVE],
                                                                                             state.id)))


@endpoint(response=flash_schedule.FlashPlans, roles=HOST_ROLES)
async def cancel_flash_plan(request: web.Request) -> web.Response:
    """Take a scheduled flash off the queue before it starts (409 once it started); answers the queue left."""
    live = request.app[LIVE]
    state = await _hosted(request)
    await flash_schedule.cancel(live, state, request.match_info["pid"])
    return json_response(flash_schedule.FlashPlans(plans=await flash_schedule.pending_plans(live, state.id)))


@endpoint(response=insight.LiveChart, roles=HOST_ROLES)
async def live_chart(request: web.Request) -> web.Response:
    """The console's chart: grabs, revenue and viewers over the live, in at most 120 buckets."""
    state = await _hosted(request)
    return json_response(await insight.chart(request.app[LIVE], state.id))


@endpoint(response=insight.SessionSummary, roles=HOST_ROLES)
async def session_summary(request: web.Request) -> web.Response:
    """The after-live summary: sold per item, buyers against viewers, lucky-bag audit links (from the orders in SQL)."""
    state = await _hosted(request)
    return json_response(await insight.summary(request.app[LIVE], state))


@endpoint(roles=HOST_ROLES, content_type="text/csv")
async def session_summary_csv(request: web.Request) -> web.Response:
    """The after-live summary as a CSV file to download (the same figures as the JSON summary)."""
    state = await _hosted(request)
    text = insight.summary_csv(await insight.summary(request.app[LIVE], state))
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="summary-{state.id}.csv"'})


routes = [
    web.post("/api/sessions/{sid}/flash-plans", schedule_flash),
    web.get("/api/sessions/{sid}/flash-plans", list_flash_plans),
    web.delete("/api/sessions/{sid}/flash-plans/{pid}", cancel_flash_plan),
    web.get("/api/sessions/{sid}/insight", live_chart),
    web.get("/api/sessions/{sid}/summary", session_summary),
    web.get("/api/sessions/{sid}/summary.csv", session_summary_csv),
]
