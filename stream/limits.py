"""Frame rate limits of a connection: its own token buckets (no round trip), then the limits of
its user and its address across every connection and process (in Redis), and the flood rule
that ends a connection.

Comments are counted with ``infra.ratelimit`` (the ``limits`` library). Grabs, the hot path of
a flash sale, are counted by the sale's own script (``limit_grabs.lua``) with concurrent checks
coalesced into one pipelined round trip, as reserves are: one ``limits`` call per grab, each on
its own pooled connection, cut a 2,000-grabber flash sale from 2,433 to 1,263 grabs/s and moved
the paced p50 from 45 ms to 865 ms (``linli bench grab``, docs/reliability.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from limits import RateLimitItem
from redis.asyncio import Redis

from infra.lua import LuaScript
from infra.ratelimit import LimitPolicy, RateLimits
from infra.ratelimit import RateLimited as SharedLimitHit
from inventory import ScriptBatcher
from stream import keys
from stream.errors import RateLimited

# kind -> (tokens per second, burst)
RATES = {"grab": (5.0, 10), "comment": (1.0, 3), "enter": (2.0, 5), "any": (20.0, 40)}
FLOOD_STRIKES = 30  # refusals in a row before the connection is closed


@dataclass
class Bucket:
    rate: float
    burst: int
    tokens: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class FrameLimiter:
    """The limits of one connection; ``flooding`` turns true after many refusals in a row."""

    def __init__(self, grab_rate: float = RATES["grab"][0], *, shared: RateLimits | None = None,
                 grabs: GrabLimits | None = None, sid: str = "", user_id: str | None = None,
                 address: str | None = None) -> None:
        rates = dict(RATES)
        if grab_rate != RATES["grab"][0]:
            # Raising the grab rate raises the all-frames rate with it, so grabs are what binds.
            rates["grab"] = (grab_rate, int(grab_rate * 2))
            rates["any"] = (max(RATES["any"][0], grab_rate * 2), max(RATES["any"][1], int(grab_rate * 4)))
        self.buckets = {kind: Bucket(rate, burst) for kind, (rate, burst) in rates.items()}
        self.strikes = 0
        self.shared = shared
        self.grabs = grabs
        self.sid = sid
        self.user_id = user_id
        self.address = address

    def allow(self, kind: str) -> bool:
        """Take a token of ``kind`` ("any" is taken once for every frame)."""
        ok = self.buckets[kind].take()
        self.strikes = 0 if ok else self.strikes + 1
        return ok

    async def check_shared(self, kind: str) -> None:
        """Count one ``kind`` (grab, comment) for this user and address across processes;
        RateLimited when either is over its limit (a refusal counts as a strike)."""
        try:
            if kind == "grab" and self.grabs is not None and self.user_id:
                await self.grabs.hit(self.sid, self.user_id, self.address)
            elif kind != "grab" and self.shared is not None:
                await self.shared.hit(kind, self.user_id, self.address)
        except SharedLimitHit as exc:
            self.strikes += 1
            who = "you" if exc.rule.endswith(".user") else "your network"
            raise RateLimited(f"slow down: {who} sent too many {kind}s; try again in {exc.retry_after_s} s") from exc

    @property
    def flooding(self) -> bool:
        return self.strikes >= FLOOD_STRIKES


def _gcra(item: RateLimitItem) -> list[int]:
    """(emission interval ms, window ms) of "n per T" for limit_grabs.lua."""
    window_ms = item.get_expiry() * 1000
    return [max(1, window_ms // item.amount), window_ms]


class GrabLimits:
    """The grab limits of users and addresses in a sale, checked by ``limit_grabs.lua``; the checks
    of concurrent grabs share pipelined round trips (inventory's ScriptBatcher, as reserves do).
    A batch resent after a broken connection may count a grab twice: stricter for a moment, never looser."""

    def __init__(self, redis: Redis, script: LuaScript, policy: LimitPolicy) -> None:
        self.policy = policy
        self._user = [_gcra(item) for item in policy.rules.get("grab.user", [])]
        self._address = [_gcra(item) for item in policy.rules.get("grab.address", [])]
        self._batcher = ScriptBatcher(redis, script)

    async def hit(self, sid: str, user_id: str, address: str | None) -> None:
        """Count one grab; SharedLimitHit naming the rule when the user or the address is over it."""
        rules: list[tuple[str, str, int, list[int]]] = [
            ("grab.user", user_id, n, params) for n, params in enumerate(self._user)]
        if address and not self.policy.is_exempt(address):
            rules += [("grab.address", address, n, params) for n, params in enumerate(self._address)]
        if not rules:
            return
        refused, wait_ms = await self._batcher.call(
            [keys.grab_limit(sid, rule.split(".")[1], ident, n) for rule, ident, n, _ in rules],
            [value for *_, params in rules for value in params])
        if int(refused):
            raise SharedLimitHit(rules[int(refused) - 1][0], max(1, -(-int(wait_ms) // 1000)))
