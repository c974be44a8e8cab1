"""Rate limits per user and per address that hold across every process, kept in Redis.

Built on the ``limits`` library (sliding-window counters in Redis, over the process's own
connection pool). Each rule has a name such as ``grab.user`` or ``token_failure.address``
and a limit in ``limits``' notation ("10/second", "2/second;30/minute", "off"); a request is
refused when any of its rule's windows is full. Addresses on the exempt list (loopback by
default: a reverse proxy on the same host, the load tests) skip the per-address rules, because
behind a proxy every client would share one address.

Token failures are limited by a middleware: an address whose tokens failed too often in the
window is answered 429 before its token is read, and a token that fails while the user id it
claims failed too often is answered 429 too. A valid token of that user still works: blocking
a user id on failures anyone can forge would let anyone lock a resident out of a sale.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from infra.apidoc import Problem, ProblemDetail
from infra.lean_request import peer_address, query_has, query_value

log = logging.getLogger(__name__)

# rule -> default limit. Grabs per user sit above the per-connection rate (5/s, burst 10) so one
# socket never meets them; several sockets or processes of one user do.
RULES: dict[str, str] = {
    "grab.user": "10/second;300/minute",
    "grab.address": "200/second",
    "comment.user": "2/second;30/minute",
    "comment.address": "50/second",
    "token_failure.user": "10/minute",
    "token_failure.address": "30/minute",
}
DEFAULT_EXEMPT = "127.0.0.0/8,::1"


class RateLimited(Exception):
    """A rule refused: ``rule`` names it, ``retry_after_s`` says when its window frees a slot."""

    def __init__(self, rule: str, retry_after_s: int) -> None:
        super().__init__(f"{rule}: too many requests")
        self.rule = rule
        self.retry_after_s = retry_after_s


def parse_rules(overrides: Mapping[str, str] = {}) -> dict[str, list[RateLimitItem]]:
    """The rules with their limits ("off" or "" switches one off); ValueError names a bad one."""
    rules: dict[str, list[RateLimitItem]] = {}
    for name, default in RULES.items():
        text = overrides.get(name, default).strip()
        if text.lower() in {"", "off", "0"}:
            rules[name] = []
            continue
        try:
            rules[name] = parse_many(text)
        except ValueError as exc:
            raise ValueError(f"rate limit {name}={text!r} is not like '10/second' or '2/second;30/minute'") from exc
    unknown = set(overrides) - set(RULES)
    if unknown:
        raise ValueError(f"unknown rate limits {', '.join(sorted(unknown))}; known: {', '.join(RULES)}")
    return rules


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or networks, such as ``127.0.0.0/8,::1``."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """Which limits hold: rule -> windows, and the addresses the per-address rules skip."""

    rules: Mapping[str, list[RateLimitItem]]
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def build(cls, overrides: Mapping[str, str] = {}, exempt: str = DEFAULT_EXEMPT) -> LimitPolicy:
        return cls(rules=parse_rules(overrides), exempt=parse_networks(exempt))

    def is_exempt(self, address: str | None) -> bool:
        if not address:
            return True  # a unix socket or an unknown peer: nothing to key on
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True
        return any(ip in net for net in self.exempt)


class RateLimits:
    """The rules of a policy, counted in Redis through the process's connection pool."""

    def __init__(self, redis: Redis, policy: LimitPolicy) -> None:
        self.policy = policy
        self._own: Any = None  # a client this object opened and must close
        storage: RedisStorage | RedisClusterStorage
        if isinstance(redis, RedisCluster):  # type: ignore[unreachable]  # the factory types a cluster as Redis
            storage = self._cluster_storage(redis)  # type: ignore[unreachable]
        else:
            pool: Any = redis.connection_pool  # passed through to redis-py, whatever the option types say
            storage = RedisStorage("async+redis://", implementation="redispy", connection_pool=pool)
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    def _cluster_storage(self, redis: RedisCluster) -> RedisClusterStorage:
        """limits' cluster storage (it hash-tags each counter's keys into one slot). It cannot share our
        cluster client, so it opens its own from the same seed nodes and credentials."""
        seeds = ",".join(redis.nodes_manager.startup_nodes)
        auth = {k: v for k, v in redis.get_connection_kwargs().items() if k in {"username", "password"} and v}
        storage = RedisClusterStorage(f"async+redis+cluster://{seeds}", implementation="redispy", **auth)
        self._own = getattr(getattr(storage, "bridge", None), "storage", None)
        return storage

    async def aclose(self) -> None:
        """Close the connections the rate limits opened themselves (on a cluster only)."""
        if self._own is not None and hasattr(self._own, "aclose"):
            await self._own.aclose()

    async def hit(self, kind: str, user_id: str | None, address: str | None) -> None:
        """Count one ``kind`` (grab, comment, token_failure) for the user and the address;
        RateLimited when a window is full. Store failures propagate (RedisError)."""
        await self.hit_rule(f"{kind}.user", user_id)
        if not self.policy.is_exempt(address):
            await self.hit_rule(f"{kind}.address", address)

    async def hit_rule(self, rule: str, ident: str | None) -> None:
        if ident is None:
            return
        for item in self.policy.rules.get(rule, ()):
            if not await self._limiter.hit(item, rule, ident):
                raise RateLimited(rule, await self._retry_after(item, rule, ident))

    async def blocked(self, rule: str, ident: str | None) -> int:
        """Seconds until ``ident`` may try again under ``rule`` without counting a hit; 0 when free."""
        if ident is None:
            return 0
        for item in self.policy.rules.get(rule, ()):
            if not await self._limiter.test(item, rule, ident):
                return await self._retry_after(item, rule, ident)
        return 0

    async def _retry_after(self, item: RateLimitItem, rule: str, ident: str) -> int:
        stats = await self._limiter.get_window_stats(item, rule, ident)
        return max(1, int(stats.reset_time - time.time() + 0.999))


# The application keeps its RateLimits here (set where the resources are opened).
RATE_LIMITS = web.AppKey("rate_limits", RateLimits)


def _carries_token(request: web.Request) -> bool:
    return "Authorization" in request.headers or query_has(request, "token", "ticket")


def _claimed_user(request: web.Request) -> str | None:
    """The user id a bearer token claims, read without trusting it (for counting failures only)."""
    header = request.headers.get("Authorization", "")
    token = header.partition(" ")[2].strip() if header else query_value(request, "token") or ""
    if not token:
        return None
    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return sub if isinstance(sub, str) and 0 < len(sub) <= 64 else None


def _too_many(retry_after_s: int) -> web.Response:
    body = Problem(error=ProblemDetail(code="rate_limited",
                                       message=f"too many failed sign-ins; try again in {retry_after_s} s"))
    return web.Response(body=msgspec.json.encode(body), status=429, content_type="application/json",
                        headers={"Retry-After": str(retry_after_s)})


@web.middleware
async def token_failure_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count 401s per address and per claimed user; refuse an address over its limit before its token is read."""
    limits = request.app.get(RATE_LIMITS)
    if limits is None or not _carries_token(request):
        return await handler(request)
    remote = peer_address(request)
    address = None if limits.policy.is_exempt(remote) else remote
    try:
        if wait := await limits.blocked("token_failure.address", address):
            return _too_many(wait)
    except RedisError:
        log.warning("token failure limits unavailable", exc_info=True)
    response = await handler(request)
    if response.status == 401:
        user = _claimed_user(request)
        try:
            await limits.hit("token_failure", user, remote)
        except RateLimited as exc:
            return _too_many(exc.retry_after_s)
        except RedisError:
            log.warning("token failure limits unavailable", exc_info=True)
    return response
