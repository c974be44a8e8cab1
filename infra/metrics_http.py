"""GET /metrics: the Prometheus scrape, behind its own door.

Metrics name no one, but they tell a platform's business volume, so a scrape needs an operator's
token, or no token at all from an address in ``LINLI_METRICS_ALLOW`` (default: this machine). A
token that is sent is judged as a token: a resident's is 403 from anywhere. A request that came
through a proxy (it carries X-Forwarded-For, Forwarded or X-Real-IP) is never taken for its peer's
address: a load balancer on this machine would otherwise open the door to everyone behind it.

``linli worker`` and ``linli scheduler`` have no web app; with ``LINLI_METRICS_PORT`` set they
serve the same route, with the same door, on that port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.errors import Unauthorized
from infra.http import auth_middleware, problem_middleware, require
from infra.metrics import exposition
from infra.ratelimit import parse_networks
from infra.resources import Resources

PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def scraper_allowed(request: web.Request, networks: str) -> bool:
    """Whether a request without a token comes straight from an address in ``networks``."""
    if any(name in request.headers for name in PROXY_HEADERS) or not request.remote:
        return False
    try:
        address = ipaddress.ip_address(request.remote)
    except ValueError:  # a unix socket's peer has no address
        return False
    return any(address in network for network in parse_networks(networks))


@endpoint(roles=("operator",), content_type="text/plain")
async def metrics_page(request: web.Request) -> web.Response:
    """Prometheus metrics (text format): an operator's token, or no token from an address in LINLI_METRICS_ALLOW."""
    if "Authorization" in request.headers:
        require(request, "operator")
    elif not scraper_allowed(request, request.app[RESOURCES].settings.metrics_allow):
        raise Unauthorized("metrics need an operator's token, or a scrape from an address in LINLI_METRICS_ALLOW")
    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


routes = [web.get("/metrics", metrics_page)]


@asynccontextmanager
async def serving_metrics(res: Resources) -> AsyncIterator[int | None]:
    """With LINLI_METRICS_PORT set, serve /metrics on LINLI_HOST at that port until the block ends; yields the port."""
    port = res.settings.metrics_port
    if not port:
        yield None
        return
    app = web.Application(middlewares=[problem_middleware, auth_middleware])
    app[RESOURCES] = res
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, res.settings.host, port).start()
        yield port
    finally:
        await runner.cleanup()
