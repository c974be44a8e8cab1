"""HTTP plumbing shared by every domain: JSON in and out, bearer tokens, problem bodies."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Any, TypeVar

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from redis import exceptions as redis_exc
from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc

from infra import metrics
from infra.apidoc import Problem, ProblemDetail
from infra.appkeys import RESOURCES
from infra.auth import AuthError, Principal, TokenRevoked, verify_token
from infra.errors import BadRequest, DomainError, Forbidden, Unauthorized, Unavailable
from infra.lean_request import has_nul, query_value
from infra.revocation import check_not_revoked
from infra.types import MAX_SQL_INT, readable

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BODY = 256 * 1024
_encoder = msgspec.json.Encoder()
# A \u0000 escape in a JSON string: an odd number of backslashes before u0000 (an even number is
# an escaped backslash followed by the text "u0000").
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# No body or frame of ours nests more than a few levels; deeper input is refused before decoding,
# at a depth that does not depend on how deep the interpreter's stack happens to be.
MAX_NESTING = 32
_JSON_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
# A store that did not answer: the caller may try again (503), and the log gets a line, not a traceback.
# So is a Redis Cluster between two states: a failover (CLUSTERDOWN), a slot migrating (TRYAGAIN, or
# redis-py's ASK handling running out of tries: ClusterError "TTL exhausted"), a slot not yet covered.
# A Redis ResponseError otherwise (a wrong key type, a script's error, keys of two slots) is a bug.
STORE_ERRORS: tuple[type[BaseException], ...] = (redis_exc.ConnectionError, redis_exc.TimeoutError, OSError,
                                                   TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError,
                                                   redis_exc.ClusterError, redis_exc.TryAgainError,
                                                   redis_exc.SlotNotCoveredError)


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
    if nests_too_deep(raw):
        raise BadRequest(f"body nests arrays and objects more than {MAX_NESTING} deep")
    if _NUL_ESCAPE.search(raw):
        # PostgreSQL refuses NUL in text (SQLite keeps it), so it is refused here for both.
        raise BadRequest("text must not contain NUL (\\u0000) characters")
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid body: {readable(str(exc))}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid UTF-8 (byte {exc.start})") from exc
    except RecursionError as exc:
        # msgspec stops at its depth limit; no body of ours nests more than a few levels.
        raise BadRequest("body nests too deeply") from exc


def nests_too_deep(raw: bytes) -> bool:
    """Whether JSON nests arrays and objects deeper than ``MAX_NESTING`` (brackets inside strings aside)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_NESTING:
        return False
    depth = 0
    for byte in _JSON_STRINGS.sub(b"", raw):
        if byte in b"[{":
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif byte in b"]}":
            depth -= 1
    return False


def whole_number(raw: str, what: str, *, least: int = 0, most: int = MAX_SQL_INT) -> int:
    """A whole number from a URL (a path or query parameter) in ASCII digits, or BadRequest naming ``what``:
    ``int()`` alone takes "²" for a digit, "1_000" and 5,000-digit numbers past a SQL column's range."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(most))) or not least <= int(raw) <= most:
        raise BadRequest(f"{what} must be a whole number from {least} to {most}")
    return int(raw)


# Where auth_middleware leaves the verified caller (or why there is none) for ``authenticate``, for the
# rest of the request only: aiohttp runs each request in a task of its own, so this is the request's.
# Not in the request's own mapping: a key once set there keeps its table after it is taken out, for as
# long as the request lives (a long-lived connection's, unless its socket is taken over: infra.websocket).
_CALLER: ContextVar[Principal | DomainError | None] = ContextVar("linli_caller", default=None)
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
    if query_value(request, "token") is not None and request.path.startswith(URL_TOKEN_PATHS):
        raise Unauthorized("tokens are not accepted in URLs: send 'Authorization: Bearer <token>' "
                           "(a browser's websocket takes a ticket from POST /api/ws-tickets)", code="token_in_url")
    if "Authorization" not in request.headers:
        return await handler(request)
    verified = _CALLER.set(await _verified(request))
    try:
        return await handler(request)
    finally:
        _CALLER.reset(verified)


def authenticate(request: web.Request) -> Principal:
    """The verified caller; 401 when the token is missing, bad or revoked."""
    found = _CALLER.get()
    if found is None:
        if "Authorization" in request.headers:
            raise RuntimeError("auth_middleware is not installed: tokens would go unchecked")
        raise Unauthorized("a bearer token is required")
    if isinstance(found, DomainError):
        # A fresh error each time: a handler may ask more than once.
        raise type(found)(found.message, code=found.code)
    return found


def require(request: web.Request, *roles: str) -> Principal:
    """The caller, who must hold one of ``roles`` (an operator always does; a community's admin for a
    community role, see ``Principal.holds``); the route still checks the community."""
    principal = authenticate(request)
    if not principal.holds(*roles):
        raise Forbidden(f"this needs the role {' or '.join(roles)}")
    return principal


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where errors become JSON problem bodies: a domain error its own, a store that
    did not answer 503 ``unavailable``, a bug 500 ``internal`` (logged once, with its traceback)."""
    try:
        if has_nul(request):
            raise BadRequest("the URL must not contain NUL (%00) characters")
        return await handler(request)
    except DomainError as exc:
        return problem(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            answer = problem(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
            if "Allow" in exc.headers:  # a 405 names the methods the path takes
                answer.headers["Allow"] = exc.headers["Allow"]
            return answer
        raise
    except STORE_ERRORS as exc:
        log.warning("%s %s: a store did not answer: %r", request.method, request.path, exc)
        metrics.store_error(exc, "http")
        return problem(503, "unavailable", "please try again in a moment")
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return problem(500, "internal", "something went wrong on our side")


# The pages load scripts, styles and fonts from this origin only, with no inline script or style
# attribute, so a script that slips into a page's text cannot run. Item pictures and the live video
# come from hosts' CDNs (any http(s) URL a host gives). No page may be framed: the host console
# acts with a token from local storage, and a frame around it would let another site steer clicks.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: https: http:",
    "media-src 'self' blob: https: http:", "connect-src 'self'", "font-src 'self'", "object-src 'none'",
    "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "no-referrer",  # a page's URL names sessions and windows; it stays here
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


async def security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the security headers on every answer, pages, files, API and errors alike
    (a signal rather than a middleware, so answers made outside the middlewares get them too). Not on a
    websocket's 101, which carries no document to protect: it would keep ~1.8 KB of headers per viewer."""
    if response.status == 101:
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class MalformedRequestLines(logging.Filter):
    """On ``aiohttp.server``: a request aiohttp cannot parse (a NUL or a control character in a header,
    a bad request line) is the client's mistake, answered 400 before any handler runs; one warning
    line says what it was (never the line itself), where aiohttp logs an error with a traceback for each."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            # The first line only: the next ones quote the raw request line, which may carry a token.
            what = str(exc.message).split("\n", 1)[0].rstrip(":")[:120]
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {what}"
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
