"""The documented rule of a lucky-bag draw: who wins, as a function anyone can recompute.

When a bag opens the server draws a fresh random seed and publishes only ``seed_hash`` =
SHA-256(seed) (hex of the UTF-8 text). At the draw the seed is revealed with the result, and

    winners = the first ``prizes`` of the eligible entrants, ordered by
              (tier, SHA-256(seed ‖ ':' ‖ user id) as hex, user id)

where an entrant is eligible unless she is ``capped`` (the bag's monthly cap: she already won that
many bags of the community in the last 30 days), and her tier is 1 when she is ``recent`` (the bag
prefers residents who have not won in the last N days and she has) and 0 otherwise. Without
options every entrant is eligible and in tier 0, so the rule is a uniformly random subset.
The recent and capped sets are fixed at the draw and recorded in the audit with the seed, so a
check later does not depend on draws made since. Prizes beyond the eligible entrants are undrawn
and stay in stock.

Draws recorded before this rule (no ``rule`` in the audit) used ``LEGACY_RULE``: the entrants with
the smallest SHA-1(seed ‖ ':' ‖ user id), no tiers; ``winners_by`` recomputes them too.
``linli verify-draw`` and the /draws page use this module's rule (the page in the browser).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable

import msgspec

RULE = "sha256-tiers-v1"
LEGACY_RULE = "sha1-v0"
CAP_WINDOW_DAYS = 30  # "per month": a rolling 30 days, the same for every resident whenever she wins


def seed_hash(seed: str) -> str:
    """The commitment published when a bag opens."""
    return hashlib.sha256(seed.encode()).hexdigest()


def rank_key(seed: str, user_id: str, rule: str = RULE) -> str:
    """An entrant's place in the draw: SHA-256 (SHA-1 under the legacy rule) of ``seed:user_id``."""
    digest = hashlib.sha1 if rule == LEGACY_RULE else hashlib.sha256
    return digest(f"{seed}:{user_id}".encode()).hexdigest()


def winners_by(seed: str, entrants: Iterable[str], prizes: int, *, recent: Collection[str] = (),
               capped: Collection[str] = (), rule: str = RULE) -> list[str]:
    """The winners of a draw under ``rule``, in prize order."""
    if rule == LEGACY_RULE:
        ranked = sorted(set(entrants), key=lambda u: rank_key(seed, u, rule))
        return ranked[:prizes]
    if rule != RULE:
        raise ValueError(f"unknown draw rule {rule!r}")
    eligible = set(entrants) - set(capped)
    ranked = sorted(eligible, key=lambda u: (1 if u in recent else 0, rank_key(seed, u), u))
    return ranked[:max(prizes, 0)]


class DrawOptions(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the audit records beside seed, entrants and winners: the bag's options and what they meant
    at the draw (who counted as a recent winner, who had reached the cap)."""

    prizes: int
    prefer_new_days: int = 0  # 0: no preference
    monthly_cap: int = 0  # 0: no cap
    recent: list[str] = []
    capped: list[str] = []
    undrawn: int = 0  # prizes nobody eligible was left for: they stay in stock


class Verdict(msgspec.Struct, kw_only=True):
    """What a check of a recorded draw found."""

    bag_id: str
    rule: str
    seed_matches: bool  # SHA-256(seed) is the hash published when the bag opened (True when none was)
    winners_match: bool  # the rule gives the recorded winners from the recorded seed and entrants
    recomputed: list[str]
    recorded: list[str]

    @property
    def ok(self) -> bool:
        return self.seed_matches and self.winners_match


def verify(bag_id: str, seed: str, published_hash: str | None, entrants: list[str], winners: list[str],
           options: DrawOptions | None, rule: str | None) -> Verdict:
    """Recompute a recorded draw from its public audit."""
    rule = rule or LEGACY_RULE
    # A legacy draw recorded no prize count: as many as won, which gives the same result (every
    # entrant won when fewer entered than there were prizes).
    prizes = options.prizes if options else len(winners)
    again = winners_by(seed, entrants, prizes, recent=options.recent if options else (),
                       capped=options.capped if options else (), rule=rule)
    return Verdict(bag_id=bag_id, rule=rule, seed_matches=published_hash is None or seed_hash(seed) == published_hash,
                   winners_match=again == winners, recomputed=again, recorded=winners)
