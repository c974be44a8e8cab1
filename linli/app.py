"""The aiohttp application factory: mounts every room's routes and opens resources in order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from community import api as community
from crowdfund import api as crowdfund
from infra.appkeys import RESOURCES
from infra.errors import Forbidden, NotFound
from infra.http import (
    CONTENT_SECURITY_POLICY,
    authenticate,
    json_response,
    security_headers,
)
from infra.media_server import running_ingest
from infra.metrics_http import routes as metrics_routes
from infra.middlewares import MIDDLEWARES
from infra.ratelimit import RATE_LIMITS
from infra.resources import open_resources
from infra.settings import Settings
from linli import health, openapi, tokens
from linli.scheduler import running_scheduler
from orders import api as orders
from stream import api as stream

STATIC = Path(__file__).parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


DEMO_OFF, DEMO_ON = '<meta name="linli-demo" content="off">', '<meta name="linli-demo" content="on">'


async def index_page(request: web.Request) -> web.StreamResponse:
    """Signing in: paste a token, or (in demo mode, which the page is told) choose who to be."""
    if not request.app[RESOURCES].settings.demo:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
    page = (STATIC / "index.html").read_text(encoding="utf-8").replace(DEMO_OFF, DEMO_ON)
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-cache"})


# The live room's player fetches a host platform's playlist and segments (hls.js reads them with
# fetch), so this one page may connect to any http(s) media host; every other page stays 'self'.
LIVE_PAGE_CSP = CONTENT_SECURITY_POLICY.replace("connect-src 'self'", "connect-src 'self' https: http:")


async def no_icon(request: web.Request) -> web.Response:
    """/favicon.ico: the pages name an empty icon; a browser that asks anyway gets nothing, not a 404."""
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})


# Every page but the front page: (path, file, what it is). The data comes from the API, each door
# checking who asks; a page itself is the same for everyone and its link carries no token.
PAGES = [
    ("/live/{sid}", "live.html", "the residents' live room at a shareable URL"),
    ("/wishes/{wid}", "wishes.html", "a resident's wish list for one window"),
    ("/supplier", "supplier.html", "the supplier's board of aggregated demand"),
    ("/host", "host.html", "the host console"),
    ("/grid", "grid.html", "the grid worker's desk, at phone width"),
    ("/points", "points.html", "a resident's points, rewards and vouchers"),
    ("/fund/{cid}", "fund.html", "the community fund's public report"),
    ("/office", "office.html", "the community office for its admin: vouchers, spending, rewards, rates"),
    ("/pickup", "pickup.html", "the pickup counter, at a phone or counter tablet"),
    ("/orders", "orders.html", "a resident's orders with their pickup codes"),
    ("/activity", "activity.html", "a resident's record of who acted for her (谁替我办过事)"),
    ("/draws/{bid}", "draw.html", "a lucky bag's draw, checked in the browser from its public audit"),
]


def static_page(file: str, what: str) -> Handler:
    """A handler serving one page, never cached stale; the live room's with its own security policy."""
    headers = {"Cache-Control": "no-cache"}
    if file == "live.html":
        headers["Content-Security-Policy"] = LIVE_PAGE_CSP

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / file, headers=headers)

    page.__doc__ = what
    return page


async def whoami(request: web.Request) -> web.Response:
    """The caller as their token names them (a quick way to check a token)."""
    p = authenticate(request)
    return json_response({"user_id": p.user_id, "role": p.role, "community_id": p.community_id})


def create_app(settings: Settings, *, worker: bool = False, scheduler: bool = False,
               run_migrations: bool = False, ingest: bool = False) -> web.Application:
    """The web application; with worker/scheduler/ingest it also runs those in-process (``linli serve``)."""
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=256 * 1024)
    app.on_response_prepare.append(security_headers)

    async def resources_ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_resources(settings, run_migrations=run_migrations) as res:
            app[RESOURCES] = res
            if res.limits is not None:
                app[RATE_LIMITS] = res.limits
            yield

    async def live_ctx(app: web.Application) -> AsyncIterator[None]:
        res = app[RESOURCES]
        async with stream.running_live(res.redis, res.engine, grab_rate=settings.grab_rate, limits=res.limits,
                                       max_connections_per_user=settings.max_connections_per_user,
                                       wait_aof=settings.wait_aof, wait_replicas=settings.wait_replicas,
                                       keepalive_s=settings.keepalive_s) as live:
            app[stream.LIVE] = live
            yield

    async def ingest_ctx(app: web.Application) -> AsyncIterator[None]:
        async with running_ingest(settings, run=ingest) as info:
            app[stream.INGEST] = info
            yield

    async def close_viewers(app: web.Application) -> None:
        if stream.LIVE in app:
            await stream.close_viewers(app[stream.LIVE])

    async def demo_ctx(app: web.Application) -> AsyncIterator[None]:
        from linli.demo import seed_demo

        for line in await seed_demo(app[RESOURCES], app[stream.LIVE]):
            print(line, flush=True)
        from linli.demo_video import demo_video

        async with demo_video(app[RESOURCES], app[stream.LIVE], app[stream.INGEST]) as line:
            print(line, flush=True)
            yield

    async def demo_people(request: web.Request) -> web.Response:
        """Who to be in the demo, with their tokens: only with `linli serve --demo`, only to this machine."""
        if not settings.demo:
            raise NotFound("the demo is off (linli serve --demo)")
        from linli.demo import demo_people, is_local_client

        if not is_local_client(request):
            raise Forbidden("the demo's people are offered on the machine running it only", code="demo_local_only")
        return json_response(await demo_people(request.app[RESOURCES]))

    async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
        async with orders.running_outbox_worker(app[RESOURCES]):
            yield

    async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
        async with running_scheduler(app[RESOURCES]):
            yield

    app.cleanup_ctx.append(resources_ctx)
    app.cleanup_ctx.append(live_ctx)
    app.cleanup_ctx.append(ingest_ctx)  # before the demo, whose test stream pushes to it
    app.on_shutdown.append(close_viewers)
    if settings.demo:
        app.cleanup_ctx.append(demo_ctx)
    app.add_routes([web.get("/api/demo", demo_people)])
    if worker:
        app.cleanup_ctx.append(worker_ctx)
    if scheduler:
        app.cleanup_ctx.append(scheduler_ctx)
    app.add_routes([*health.routes, *openapi.routes, web.get("/api/me", whoami), *tokens.routes, *community.routes,
                    *stream.routes, *orders.routes, *metrics_routes,
                    *crowdfund.routes, web.get("/", index_page), web.get("/favicon.ico", no_icon),
                    *(web.get(path, static_page(file, what)) for path, file, what in PAGES),
                    web.static("/static", STATIC, append_version=False)])
    return app
