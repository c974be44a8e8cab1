"""HTTP plumbing shared by every domain: JSON in and out, bearer tokens, problem bodies."""

from __future__ import annotations

import logging
from typing import Any, TypeVar, cast

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import RedisError

from infra.apidoc import Problem, ProblemDetail
from infra.appkeys import RESOURCES
from infra.auth import AuthError, Principal, TokenRevoked, verify_token
from infra.errors import BadRequest, DomainError, Forbidden, Unauthorized, Unavailable
from infra.revocation import check_not_revoked
from infra.types import readable

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BODY = 256 * 1024
_encoder = msgspec.json.Encoder()


def json_response(body: Any, status: int = 200) -> web.Response:
    """Encode a Struct, dict or list with msgspec."""
    return web.Response(body=_encoder.encode(body), status=status, content_type="application/json")


def problem(status: int, code: str, message: str) -> web.Response:
    return json_response(Problem(error=ProblemDetail(code=code, message=message)), status)


async def read_body(request: web.Request, kind: type[T]) -> T:
    """Decode and validate a JSON body into ``kind``, or BadRequest saying what is wrong."""
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise BadRequest(f"body larger than {MAX_BODY} bytes")
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid body: {readable(str(exc))}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc


# Where auth_middleware leaves the verified caller (or why there is none) for ``authenticate``.
# Newer aiohttp wants a typed request key (and warns about a string); the floor (3.11) has none.
_REQUEST_KEY = getattr(web, "RequestKey", None)
PRINCIPAL_KEY: Any = _REQUEST_KEY("linli.principal", object) if _REQUEST_KEY else "linli.principal"
# Tokens never travel in URLs: they end up in access logs, proxies' logs, browser history and
# Referer headers. Refused on the API and the websocket (pages take one once, see common.js).
URL_TOKEN_PATHS = ("/api/", "/ws/")


def bearer_token(request: web.Request) -> str | None:
    """The token of the Authorization header; None when there is none."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    return token.strip()


async def _verified(request: web.Request) -> Principal | DomainError:
    try:
        token = bearer_token(request)
        if token is None:
            return Unauthorized("a bearer token is required")
        principal = verify_token(request.app[RESOURCES].secret, token)
        await check_not_revoked(request.app[RESOURCES].redis, principal)
        return principal
    except DomainError as exc:
        return exc
    except TokenRevoked as exc:
        return Unauthorized(f"{exc}: sign in again", code="token_revoked")
    except AuthError as exc:
        return Unauthorized(str(exc))
    except RedisError as exc:
        log.warning("could not check token revocations: %r", exc)
        return Unavailable("cannot check the token right now; try again shortly")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Verify the bearer token once per request, revocations included (one Redis round trip), so
    handlers ask ``authenticate`` synchronously; refuse a token in the URL of the API."""
    if "token" in request.query and request.path.startswith(URL_TOKEN_PATHS):
        raise Unauthorized("tokens are not accepted in URLs: send 'Authorization: Bearer <token>' "
                           "(a browser's websocket takes a ticket from POST /api/ws-tickets)", code="token_in_url")
    if "Authorization" in request.headers:
        request[PRINCIPAL_KEY] = await _verified(request)
    return await handler(request)


def authenticate(request: web.Request) -> Principal:
    """The verified caller; 401 when the token is missing, bad or revoked."""
    found = request.get(PRINCIPAL_KEY)
    if found is None:
        if "Authorization" in request.headers:
            raise RuntimeError("auth_middleware is not installed: tokens would go unchecked")
        raise Unauthorized("a bearer token is required")
    if isinstance(found, DomainError):
        # A fresh error each time: a handler may ask more than once.
        raise type(found)(found.message, code=found.code)
    return cast(Principal, found)


def require(request: web.Request, *roles: str) -> Principal:
    """The caller, who must hold one of ``roles`` (an operator always does; a community's admin for a
    community role, see ``Principal.holds``); the route still checks the community."""
    principal = authenticate(request)
    if not principal.holds(*roles):
        raise Forbidden(f"this needs the role {' or '.join(roles)}")
    return principal


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where errors become JSON problem bodies."""
    try:
        return await handler(request)
    except DomainError as exc:
        return problem(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return problem(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise
