"""The token denylist, in Redis so that every process refuses a revoked token at once.

Two kinds of entry, neither under a session's hash tag (they belong to no session):

- ``linli:revoked:jti:<jti>`` -- one token, kept until that token would have expired anyway.
- ``linli:revoked:user:<user id>`` -- epoch seconds: every token of that user issued at or before
  it is refused ("sign out everywhere", a lost phone, a host who left). Kept ``MAX_TTL_S``, the
  longest any token may live, so it outlives every token it denies.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from infra.auth import MAX_TTL_S, AuthError, Principal, TokenRevoked
from infra.ids import ID_RE, ID_RULE

JTI_PREFIX = "linli:revoked:jti:"
USER_PREFIX = "linli:revoked:user:"


def jti_key(jti: str) -> str:
    return JTI_PREFIX + jti


def user_key(user_id: str) -> str:
    return USER_PREFIX + user_id


def _checked(value: str, what: str) -> str:
    if not ID_RE.match(value):
        raise AuthError(f"{what} must be {ID_RULE}")
    return value


async def revoke_token(redis: aioredis.Redis, jti: str, expires_at: int | None = None) -> None:
    """Deny one token; ``expires_at`` (epoch s) lets the entry go when the token would have."""
    left = MAX_TTL_S if expires_at is None else max(1, expires_at - int(time.time()) + 1)
    await redis.set(jti_key(_checked(jti, "a token id")), b"1", ex=min(left, MAX_TTL_S))


async def revoke_user(redis: aioredis.Redis, user_id: str) -> int:
    """Deny every token of ``user_id`` issued until now; returns that moment (epoch s)."""
    now = int(time.time())
    await redis.set(user_key(_checked(user_id, "a user id")), str(now).encode(), ex=MAX_TTL_S)
    return now


async def check_not_revoked(redis: aioredis.Redis, principal: Principal) -> None:
    """TokenRevoked when the caller's token, or every token of the caller's until a moment, was revoked."""
    if not principal.token_id:
        raise AuthError("invalid token: no token id")
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(jti_key(principal.token_id))
        pipe.get(user_key(principal.user_id))
        denied, until = await pipe.execute()
    if denied or (until is not None and principal.issued_at <= int(until)):
        raise TokenRevoked("token revoked")
