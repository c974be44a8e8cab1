"""HTTP plumbing shared by every domain: JSON in and out, bearer tokens, problem bodies."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler

from infra.apidoc import Problem, ProblemDetail
from infra.appkeys import RESOURCES
from infra.auth import AuthError, Principal, verify_token
from infra.errors import BadRequest, DomainError, Forbidden, Unauthorized
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


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        return token.strip()
    return request.query.get("token")


def authenticate(request: web.Request) -> Principal:
    """The verified caller; 401 when the token is missing or bad."""
    token = bearer_token(request)
    if not token:
        raise Unauthorized("a bearer token is required")
    try:
        return verify_token(request.app[RESOURCES].secret, token)
    except AuthError as exc:
        raise Unauthorized(str(exc)) from exc


def require(request: web.Request, *roles: str) -> Principal:
    """The caller, who must hold one of ``roles`` (admin always passes)."""
    principal = authenticate(request)
    if roles and principal.role not in roles and principal.role != "admin":
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
