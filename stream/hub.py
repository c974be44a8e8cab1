"""One web process's fan-out: Redis sharded pub/sub in, each viewer's bounded send queue out.

The process subscribes to a session's shard channels while it has viewers of it, on the node
owning the session's slot (stream.subscriptions), and hands on its events in seq order with no
silent gap, filling any from the session's history (stream.catchup). A message is
put as the same bytes object into every local viewer's queue; a viewer whose queue is
full cannot keep up and is disconnected (it resyncs from a fresh snapshot on reconnect).
Beside it, the session's personal channel carries frames for one user (her hold, her
notice): each names its user and goes to her local viewers only.
The two events that name people (a comment, a lucky bag's winners) go to each viewer in the
edition of her audience (stream.audience): staff see user ids, everyone else masked names.
Every second the process reports its viewer counts, and the total across processes is
published when it changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import OrderedDict, defaultdict

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra import metrics
from infra.tasks import cancel_and_wait
from stream import audience, keys
from stream.catchup import SessionSeqs
from stream.frames import event_ts, viewers_count
from stream.history import HISTORY_LEN
from stream.protocol import Personal
from stream.scripts import Scripts
from stream.subscriptions import ShardedPubSubUnavailable, Subscriptions
from stream.viewer import Viewer, text_frame

log = logging.getLogger(__name__)

VIEWERS_EVERY_S = 1.0
KEEPALIVE_S = 30.0  # a ping to every viewer this often; one silent for a whole period is dropped
VIEWERS_STALE_MS = 5_000
REPLAYED_EDITIONS = 512  # editions of named events kept for resuming viewers
RESYNC_CLOSE_CODE = 4009  # "events were lost on the way: reconnect to resume or resync"
_personal = msgspec.json.Decoder(Personal)


class Hub:
    """Subscriptions and local viewers of one web process."""

    def __init__(self, redis: Redis, scripts: Scripts, names: audience.NameLookup | None = None,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        self.redis = redis
        self.keepalive_s = keepalive_s
        self._names = names  # masked names of residents by user id
        self.process_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.rooms: dict[str, set[Viewer]] = defaultdict(set)
        # session -> user -> her viewer, or a list of them when she has several open (most have one:
        # no tuple key, list or set per viewer, ~200 bytes each of an idle room's thousands)
        self._users: dict[str, dict[str, Viewer | list[Viewer]]] = defaultdict(dict)
        self._seqs = SessionSeqs(redis, self._deliver_event, self._resync)
        self._subs = Subscriptions(redis, self._on_message, self._seqs.catch_up)
        self._report = scripts.report_viewers
        self._tasks: list[asyncio.Task[None]] = []
        self._reported: set[str] = set()
        self._room_sizes: dict[str, int] = {}
        # Editions of replayed events (stream.resume): after a blip a whole room resumes at once and
        # replays the same few events, so each is decoded and re-encoded once, not once per viewer.
        self._replayed: OrderedDict[bytes, audience.Editions | None] = OrderedDict()

    async def start(self) -> None:
        """Subscribe from now on (the server checked when it answers) and report viewer counts."""
        try:
            await self._subs.start()
        except ShardedPubSubUnavailable as exc:
            log.error("%s", exc)  # a fan-out that cannot work: refuse to start, saying why first
            raise
        if self._subs.server:
            log.info("live fan-out over sharded pub/sub on %s", self._subs.server)
        self._tasks = [asyncio.create_task(self._report_viewers(), name="hub-viewers"),
                       asyncio.create_task(self._keep_alive(), name="hub-keepalive")]

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        await self._subs.stop()

    async def shown_name(self, viewer: Viewer) -> str:
        """Her masked name as her comments show it to neighbours ("" for staff and the unregistered)."""
        if viewer.role != "resident" or self._names is None:
            return ""
        return (await self._names([viewer.user_id])).get(viewer.user_id, "")

    async def join(self, viewer: Viewer) -> None:
        self.rooms[viewer.sid].add(viewer)
        users = self._users[viewer.sid]
        mine = users.get(viewer.user_id)
        if mine is None:
            users[viewer.user_id] = viewer
        elif isinstance(mine, list):
            mine.append(viewer)
        else:
            users[viewer.user_id] = [mine, viewer]
        # Confirmed before the caller reads the snapshot or the history, so no event falls between.
        if not await self._subs.add(viewer.sid, (keys.channel(viewer.sid), keys.personal(viewer.sid))):
            log.warning("the subscription of session %s is not confirmed yet", viewer.sid)
        await self._seqs.start_at(viewer.sid)

    async def leave(self, viewer: Viewer) -> None:
        room = self.rooms.get(viewer.sid)
        if room is None:
            return
        room.discard(viewer)
        users = self._users.get(viewer.sid, {})
        mine = users.get(viewer.user_id)
        if mine is viewer:
            del users[viewer.user_id]
        elif isinstance(mine, list) and viewer in mine:
            others = [v for v in mine if v is not viewer]
            users[viewer.user_id] = others[0] if len(others) == 1 else others
        if not room:
            del self.rooms[viewer.sid]
            self._users.pop(viewer.sid, None)
            self._seqs.forget(viewer.sid)
            await self._subs.remove(viewer.sid)

    def local_viewers(self, sid: str) -> int:
        return len(self.rooms.get(sid, ()))

    def room_size(self, sid: str) -> int:
        """The session's viewers across every web process, from the last viewers event heard."""
        return self._room_sizes.get(sid, 0)

    def deliver(self, sid: str, data: bytes, names: dict[str, str] | None = None) -> None:
        """Hand the same bytes to every local viewer of a session; an event that names people in
        each audience's edition (``names``: masked names by user id, for a lucky bag's winners)."""
        if (count := viewers_count(data)) is not None:
            self._room_sizes[sid] = count
        viewers = list(self.rooms.get(sid, ()))
        editions = audience.editions(data, names) if viewers else None
        if editions is None:
            frame = text_frame(data)  # one frame for the whole room: server frames are neither masked nor deflated
            for viewer in viewers:
                viewer.offer_frame(frame)
            return
        frames: dict[bytes, bytes] = {}  # each edition framed once
        for viewer in viewers:
            edition = editions.for_viewer(viewer.user_id, viewer.role)
            edition_frame = frames.get(edition)
            if edition_frame is None:
                edition_frame = frames[edition] = text_frame(edition)
            viewer.offer_frame(edition_frame)

    async def edition(self, user_id: str, role: str, data: bytes) -> bytes:
        """An already published event as a viewer gets it live (her audience's edition)."""
        if audience.event_type(data) not in audience.NAMED_EVENTS:
            return data
        if data in self._replayed:
            made = self._replayed[data]
        else:
            winners = audience.winners_of(data) if self._names is not None else []
            made = audience.editions(data, await self._names(winners) if winners and self._names else None)
            self._replayed[data] = made
            if len(self._replayed) > REPLAYED_EDITIONS:
                self._replayed.popitem(last=False)
        return data if made is None else made.for_viewer(user_id, role)

    def deliver_personal(self, sid: str, data: bytes) -> None:
        """Hand a personal frame to the local viewers of the user its envelope names."""
        try:
            envelope = _personal.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("dropped an unreadable personal frame of session %s", sid)
            return
        mine = self._users.get(sid, {}).get(envelope.to)
        if mine is None:
            return
        frame = text_frame(bytes(envelope.frame))
        for viewer in list(mine) if isinstance(mine, list) else (mine,):
            viewer.offer_frame(frame)

    async def _on_message(self, channel: str, data: bytes) -> None:
        sid = keys.session_of(channel)
        if channel.endswith(":personal"):
            self.deliver_personal(sid, data)
            return
        try:
            await self._seqs.on_event(sid, data)
        except Exception:  # one unreadable event must not end every session's fan-out
            log.exception("dropped an event of session %s", sid)

    def _resync(self, sid: str) -> None:
        """Close the session's local viewers: they reconnect with their last seq and resume or resync."""
        for viewer in list(self.rooms.get(sid, ())):
            viewer.close(RESYNC_CLOSE_CODE, b"events were lost on the way: reconnect to resync")

    async def _deliver_event(self, sid: str, data: bytes) -> None:
        # Awaited in the listener, so the events after a draw wait for its winners' names: order kept.
        winners = audience.winners_of(data) if sid in self.rooms and self._names is not None else []
        self.deliver(sid, data, await self._names(winners) if winners and self._names else None)
        if self.rooms.get(sid) and (published := event_ts(data)) is not None:
            metrics.event_handed_over(published)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            for room in list(self.rooms.values()):
                for viewer in list(room):
                    viewer.keepalive()

    async def _report_viewers(self) -> None:
        while True:
            await asyncio.sleep(VIEWERS_EVERY_S)
            # Sessions that just emptied report 0 once, so the total drops promptly.
            sids = set(self.rooms) | self._reported
            self._reported = set(self.rooms)
            for sid in sids:
                try:
                    await self._report(self.redis, [keys.viewers(sid), keys.event_seq(sid), keys.history(sid)],
                                       [keys.channel(sid), self.process_id, self.local_viewers(sid),
                                        VIEWERS_STALE_MS, HISTORY_LEN])
                except RedisError as exc:
                    log.warning("viewer count report failed: %s", exc)
                    metrics.store_error(exc, "viewers")

    async def total_viewers(self, sid: str) -> int:
        """The last published total across processes."""
        return int(await self.redis.hget(keys.viewers(sid), "_last") or 0)
