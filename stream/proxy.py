"""Grabs a grid worker places for the residents of her grid (代下单).

The order is the resident's; only the grid worker named as her grid worker, in the session's
community, may place it. A yes is looked up in SQL once per connection and resident, so a
grid worker grabbing again and again for the same neighbour costs no further queries, and an
ordinary grab (no ``for_user``) never comes here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from community.api import grid_worker_of
from infra.errors import NotFound

PROXY_ROLES = ("grid",)  # hosts and admins may not grab for a resident: only her own grid worker
NOT_YOURS = "not_your_resident"


class ProxyDesk:
    """Which residents one connection's grid worker may grab for, remembered per connection."""

    MAX_REMEMBERED = 1_000  # a grid serves a few hundred households; more is not a real desk

    def __init__(self, engine: AsyncEngine, community: Callable[[], Awaitable[str]], user_id: str, role: str) -> None:
        self.engine = engine
        self._community = community  # the session's community, asked for at the first grab for someone
        self.community_id: str | None = None
        self.user_id = user_id
        self.role = role
        self._allowed: set[str] = set()

    async def may_grab_for(self, resident_id: str) -> bool:
        """Whether the resident is of this session's community and in the caller's grid."""
        if self.role not in PROXY_ROLES or resident_id == self.user_id:
            return False
        if resident_id in self._allowed:
            return True
        try:
            community, grid_worker = await grid_worker_of(self.engine, resident_id)
        except NotFound:
            # An unknown id answers as someone else's: a grid worker learns nothing of who exists.
            allowed = False
        else:
            if self.community_id is None:
                self.community_id = await self._community()
            allowed = community == self.community_id and grid_worker == self.user_id
        # Only a yes is remembered: a resident registered into her grid during the live works at once,
        # and refusals are few (each costs a grab token of the connection).
        if allowed and len(self._allowed) < self.MAX_REMEMBERED:
            self._allowed.add(resident_id)
        return allowed
