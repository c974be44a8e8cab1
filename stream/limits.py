"""Frame rate limits of a connection: its own token buckets (no round trip), then the limits of
its user and its address across every connection and process (in Redis), and the flood rule
that ends a connection.

Comments are counted with ``infra.ratelimit`` (the ``limits`` library). Grabs, the hot path of
a flash sale, are counted by the reserve script itself (``inventory/lua/reserve_stock.lua``, the
cells passed as ``RateCell``s), so a grab costs one coalesced round trip, not two; red packets by
``limit_grabs.lua``, the same cells on their own. One ``limits`` call per grab, each on its own
pooled connection, had cut a 2,000-grabber flash sale from 2,433 to 1,263 grabs/s and moved the
paced p50 from 45 ms to 865 ms (``linli bench grab``, docs/reliability.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from limits import RateLimitItem
from redis.asyncio import Redis

from infra.lua import LuaScript
from infra.ratelimit import LimitPolicy, RateLimits
from infra.ratelimit import RateLimited as SharedLimitHit
from inventory import Inventory, OverRateLimit, RateCell, Reservation, ScriptBatcher
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
        # The grab limits of this connection's user and address, built at its first grab: the same
        # for every grab it makes (a grid worker's grab for a resident counts against her own).
        self._grab_rules: list[tuple[str, RateCell]] | None = None

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
            raise self._refused(kind, exc.rule, exc.retry_after_s) from exc

    async def reserve(self, inventory: Inventory, iid: str, user_id: str, qty: int, request_id: str, *,
                      proxy: str = "") -> Reservation:
        """A grab: inventory.reserve with this connection's user and address limits checked and
        charged in the same call (RateLimited when one refuses, counted as a strike)."""
        rules = self._grab_rules
        if rules is None:
            rules = self._grab_rules = (self.grabs.rules(self.sid, self.user_id, self.address)
                                        if self.grabs and self.user_id else [])
        try:
            return await inventory.reserve(self.sid, iid, user_id, qty, request_id, proxy=proxy,
                                           limits=[cell for _, cell in rules])
        except OverRateLimit as exc:
            raise self._refused("grab", rules[exc.cell][0], max(1, -(-exc.retry_after_ms // 1000))) from exc

    def _refused(self, kind: str, rule: str, retry_after_s: int) -> RateLimited:
        self.strikes += 1
        who = "you" if rule.endswith(".user") else "your network"
        return RateLimited(f"slow down: {who} sent too many {kind}s; try again in {retry_after_s} s")

    @property
    def flooding(self) -> bool:
        return self.strikes >= FLOOD_STRIKES


def _gcra(item: RateLimitItem) -> tuple[int, int]:
    """(emission interval ms, window ms) of "n per T" for a GCRA cell."""
    window_ms = item.get_expiry() * 1000
    return max(1, window_ms // item.amount), window_ms


class GrabLimits:
    """The grab limits of users and addresses in a sale, as GCRA cells: a flash-sale grab hands them
    to the reserve call (``rules``), a red packet has them checked by ``limit_grabs.lua`` (``hit``),
    its checks coalesced into pipelined round trips as reserves are. A batch of red-packet checks
    resent after a broken connection may count one twice: stricter for a moment, never looser."""

    def __init__(self, redis: Redis, script: LuaScript, policy: LimitPolicy) -> None:
        self.policy = policy
        self._user = [_gcra(item) for item in policy.rules.get("grab.user", [])]
        self._address = [_gcra(item) for item in policy.rules.get("grab.address", [])]
        self._batcher = ScriptBatcher(redis, script)

    def rules(self, sid: str, user_id: str, address: str | None) -> list[tuple[str, RateCell]]:
        """(rule name, its cell) for every grab limit of this user and address in a session."""
        cells = [("grab.user", RateCell(keys.grab_limit(sid, "user", user_id, n), *params))
                 for n, params in enumerate(self._user)]
        if address and not self.policy.is_exempt(address):
            cells += [("grab.address", RateCell(keys.grab_limit(sid, "address", address, n), *params))
                      for n, params in enumerate(self._address)]
        return cells

    async def hit(self, sid: str, user_id: str, address: str | None) -> None:
        """Count one grab; SharedLimitHit naming the rule when the user or the address is over it."""
        rules = self.rules(sid, user_id, address)
        if not rules:
            return
        refused, wait_ms = await self._batcher.call(
            [cell.key for _, cell in rules], [v for _, cell in rules for v in (cell.interval_ms, cell.window_ms)])
        if int(refused):
            raise SharedLimitHit(rules[int(refused) - 1][0], max(1, -(-int(wait_ms) // 1000)))
