"""POST /api/token-revocations: deny one token, or every token of a user, in every process at once."""

from __future__ import annotations

import msgspec
from aiohttp import web

from infra.apidoc import endpoint
from infra.appkeys import RESOURCES
from infra.errors import BadRequest, Forbidden
from infra.http import authenticate, json_response, read_body
from infra.revocation import revoke_token, revoke_user
from infra.types import Id


class Revocation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    jti: Id | None = None  # one token, by its id
    user_id: Id | None = None  # every token of this user issued until now


class Revoked(msgspec.Struct, kw_only=True, omit_defaults=True):
    jti: str | None = None
    user_id: str | None = None
    until: int | None = None  # epoch ms: tokens of user_id issued until then are refused


@endpoint(request=Revocation, response=Revoked)
async def post_revocation(request: web.Request) -> web.Response:
    """Deny a token by its jti, or every token a user holds now: operators for anyone, anyone for themselves."""
    principal = authenticate(request)
    body = await read_body(request, Revocation)
    if (body.jti is None) == (body.user_id is None):
        raise BadRequest("give one of jti and user_id")
    own = body.jti == principal.token_id or body.user_id == principal.user_id
    if principal.role != "operator" and not own:
        raise Forbidden("only an operator revokes other people's tokens")
    redis = request.app[RESOURCES].redis
    if body.jti is not None:
        await revoke_token(redis, body.jti, principal.expires_at if body.jti == principal.token_id else None)
        return json_response(Revoked(jti=body.jti))
    assert body.user_id is not None
    until = await revoke_user(redis, body.user_id)
    return json_response(Revoked(user_id=body.user_id, until=until * 1000))


routes = [web.post("/api/token-revocations", post_revocation)]
