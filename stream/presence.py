"""Who is in a live room, counted per web process so that a dead process's viewers expire.

Each web process keeps its own count of every user's connections per session (in memory, and
its share in Redis under ``{s:<sid>}:conns:<pid>``), and beats once a second per session it has
viewers in. ``{s:<sid>}:conns`` is the sum over registered processes, which the lucky-bag and
red-packet scripts read. A process silent for ``STALE_MS`` is presumed dead: the next process
to beat or join reaps its share (``reap_presence.lua``), so after a crash (``kill -9`` of a web
process, or of ``linli serve``) its viewers stop counting as present within seconds, and a
resident who comes back is not credited with watch time from before the crash beyond the
reconnect grace. A process whose share was reaped while it lived registers again with every
connection it holds (``restore_presence.lua``).
"""

from __future__ import annotations

import logging
import socket
from collections import Counter, defaultdict

from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra.redis_server import process_running
from infra.resources import as_str
from stream import keys
from stream.scripts import Scripts

log = logging.getLogger(__name__)

GRACE_MS = 60_000  # a reconnect within this keeps the original joined_at
BEAT_EVERY_S = 1.0
STALE_MS = 15_000  # a process silent this long is presumed dead; well above a loaded machine's stalls
REFUSED, UNREGISTERED = -1, -2


def _died_here(pid_tag: str) -> bool:
    """Whether a process id (``<host>-<pid>-<tag>``, as the hub makes it) names a process of this
    host that no longer runs."""
    host, _, rest = pid_tag.rpartition("-")[0].rpartition("-")
    try:
        return host == socket.gethostname() and not process_running(int(rest))
    except ValueError:
        return False


class Presence:
    """One web process's connections per session and user, mirrored into Redis."""

    def __init__(self, redis: Redis, scripts: Scripts, process_id: str, *, max_per_user: int = 5) -> None:
        self.redis = redis
        self.scripts = scripts
        self.process_id = process_id
        self.max_per_user = max_per_user
        self.local: dict[str, Counter[str]] = defaultdict(Counter)
        self._unsure: set[str] = set()  # sessions where a leave may not have reached Redis

    def _keys(self, sid: str) -> list[str]:
        return [keys.conns(sid), keys.present(sid), keys.procs(sid), keys.proc_conns(sid, self.process_id)]

    async def join(self, sid: str, user_id: str) -> bool:
        """Count one more connection of the user; False when she already holds the most allowed."""
        args = [user_id, 1, GRACE_MS, self.process_id, self.max_per_user]
        for attempt in range(3):
            result = int(await self.scripts.join_room(self.redis, self._keys(sid), args))
            if result == UNREGISTERED:
                await self.register(sid)
            elif result == REFUSED and attempt == 0:
                # Connections of a process that died may still count: reap them and ask once more.
                if not await self.reap_stale(sid):
                    return False
            elif result == REFUSED:
                return False
            else:
                self.local[sid][user_id] += 1
                return True
        raise RedisError("presence: could not register this process in the session")

    async def leave(self, sid: str, user_id: str) -> None:
        """Count one connection of the user fewer."""
        mine = self.local.get(sid)
        if mine is None or mine[user_id] <= 0:
            return
        mine[user_id] -= 1
        if mine[user_id] == 0:
            del mine[user_id]
        if not mine:
            del self.local[sid]
        # Unregistered (-2) needs nothing: a reap already took this connection out of the counts.
        try:
            await self.scripts.join_room(self.redis, self._keys(sid), [user_id, -1, GRACE_MS, self.process_id, 0])
        except Exception:
            # Whether it counted is unknown (Redis out of reach): the next heartbeat writes this
            # process's share again from what it holds.
            self._unsure.add(sid)
            raise

    async def register(self, sid: str, *, replace: bool = False) -> None:
        """Reap dead processes of the session, then register this one with what it holds there
        (with ``replace``, write its share again even when registered)."""
        await self.reap_stale(sid)
        pairs: list[str | int] = []
        for user, count in self.local.get(sid, Counter()).items():
            pairs += [user, count]
        if await self.scripts.restore_presence(self.redis, self._keys(sid),
                                               [self.process_id, GRACE_MS, int(replace), *pairs]) and pairs:
            log.warning("presence of session %s written again from this process's connections", sid)

    async def reap_stale(self, sid: str, stale: list[str] | None = None) -> int:
        """Reap the processes of the session that stopped beating; returns how many."""
        if stale is None:
            beats = await self.redis.hgetall(keys.procs(sid))
            now = await self._now_ms()
            stale = [as_str(pid) for pid, at in beats.items() if now - int(at) > STALE_MS]
            # A process of this machine that no longer runs is dead now, without waiting for STALE_MS
            # (a restarted `linli serve` finds its predecessor's viewers at once).
            dead = [as_str(pid) for pid in beats if _died_here(as_str(pid))]
            reaped = await self._reap(sid, dead, -1)
            stale = [pid for pid in stale if pid not in dead]
        else:
            reaped = 0
        return reaped + await self._reap(sid, stale, STALE_MS)

    async def _reap(self, sid: str, pids: list[str], stale_ms: int) -> int:
        pids = [pid for pid in pids if pid != self.process_id]
        if not pids:
            return 0
        reaped = int(await self.scripts.reap_presence(
            self.redis, [keys.procs(sid), keys.conns(sid), keys.present(sid),
                         *(keys.proc_conns(sid, pid) for pid in pids)], [stale_ms, *pids]))
        if reaped:
            log.warning("session %s: took the viewers of %d silent web process(es) out of presence", sid, reaped)
        return reaped

    async def _now_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def beat(self) -> None:
        """Renew this process's heartbeat in every session it has viewers in; reap the silent ones."""
        for sid in list(set(self.local) | self._unsure):
            try:
                registered, *stale = await self.scripts.beat_presence(
                    self.redis, [keys.procs(sid)], [self.process_id, STALE_MS])
                if stale:
                    await self.reap_stale(sid, [as_str(pid) for pid in stale])
                if sid in self._unsure:
                    await self.register(sid, replace=True)
                    self._unsure.discard(sid)
                elif not int(registered) and sid in self.local:
                    await self.register(sid)
            except RedisError as exc:
                log.warning("presence heartbeat of session %s failed: %s", sid, exc)

    async def forget(self) -> None:
        """Take this process out of every session's presence (on the way out)."""
        for sid in list(self.local):
            try:
                await self.scripts.reap_presence(
                    self.redis, [keys.procs(sid), keys.conns(sid), keys.present(sid),
                                 keys.proc_conns(sid, self.process_id)], [-1, self.process_id])
            except RedisError as exc:
                log.warning("could not leave the presence of session %s: %s", sid, exc)
        self.local.clear()
