"""The app's middlewares in their order, and the same guards around the opening of a long-lived handler.

A middleware's coroutine stays suspended for as long as the handler under it runs. For a live room's
websocket that is the whole connection: three suspended frames per viewer, about 1 KB each of ten
thousand idle viewers hold for nothing, as no middleware has work left once the handshake is answered.
A handler marked ``guards_its_opening`` is tail-called by the middlewares (a plain call that returns
its coroutine, so no frame of theirs stays), and runs the very same middlewares, through ``guarded``,
around its opening only: token-failure limits, problem bodies and the verified caller hold for the
handshake exactly as for any other request.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from infra.http import auth_middleware, problem_middleware
from infra.ratelimit import token_failure_middleware

F = TypeVar("F", bound=Callable[..., object])

# Outermost first: the token-failure limits see every 401 whichever layer made it; problem bodies
# cover the auth check; the auth check runs before any handler.
GUARDS: tuple[Middleware, ...] = (token_failure_middleware, problem_middleware, auth_middleware)
_MARK = "guards_its_opening"


def guards_its_opening(handler: F) -> F:
    """Mark a route handler that runs ``guarded`` around its opening itself (see the module's doc)."""
    setattr(handler, _MARK, True)
    return handler


def _unless_guarding_itself(middleware: Middleware) -> Middleware:
    @web.middleware
    def tail_or_guard(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        if getattr(request.match_info.handler, _MARK, False):
            return handler(request)  # not awaited here: the handler's coroutine is aiohttp's to await
        return middleware(request, handler)
    return tail_or_guard


MIDDLEWARES: list[Middleware] = [_unless_guarding_itself(m) for m in GUARDS]


async def guarded(request: web.Request, opening: Handler,
                  guards: tuple[Middleware, ...] = GUARDS) -> web.StreamResponse:
    """``opening`` run inside every guard, as the app's middlewares run a route that does not guard itself."""
    if not guards:
        return await opening(request)
    return await guards[0](request, functools.partial(guarded, opening=opening, guards=guards[1:]))
