"""Per-connection frame rate limits (token buckets), and the flood rule that ends a connection."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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

    def __init__(self, grab_rate: float = RATES["grab"][0]) -> None:
        rates = dict(RATES)
        if grab_rate != RATES["grab"][0]:
            # Raising the grab rate raises the all-frames rate with it, so grabs are what binds.
            rates["grab"] = (grab_rate, int(grab_rate * 2))
            rates["any"] = (max(RATES["any"][0], grab_rate * 2), max(RATES["any"][1], int(grab_rate * 4)))
        self.buckets = {kind: Bucket(rate, burst) for kind, (rate, burst) in rates.items()}
        self.strikes = 0

    def allow(self, kind: str) -> bool:
        """Take a token of ``kind`` ("any" is taken once for every frame)."""
        ok = self.buckets[kind].take()
        self.strikes = 0 if ok else self.strikes + 1
        return ok

    @property
    def flooding(self) -> bool:
        return self.strikes >= FLOOD_STRIKES
