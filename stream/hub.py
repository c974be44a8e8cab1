"""One web process's fan-out: Redis pub/sub in, each viewer's bounded send queue out.

The process subscribes to a session's channel while it has viewers of it. A message is
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
import contextlib
import logging
import os
import socket
import uuid
from collections import OrderedDict, defaultdict

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stream import audience, keys
from stream.frames import viewers_count
from stream.history import HISTORY_LEN
from stream.protocol import Personal
from stream.scripts import Scripts
from stream.viewer import Viewer

log = logging.getLogger(__name__)

VIEWERS_EVERY_S = 1.0
VIEWERS_STALE_MS = 5_000
REPLAYED_EDITIONS = 512  # editions of named events kept for resuming viewers
_personal = msgspec.json.Decoder(Personal)


class Hub:
    """Subscriptions and local viewers of one web process."""

    def __init__(self, redis: Redis, scripts: Scripts, names: audience.NameLookup | None = None) -> None:
        self.redis = redis
        self._names = names  # masked names of residents by user id
        self.process_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.rooms: dict[str, set[Viewer]] = defaultdict(set)
        self._users: dict[tuple[str, str], set[Viewer]] = defaultdict(set)  # (session, user) -> her viewers
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._report = scripts.report_viewers
        self._tasks: list[asyncio.Task[None]] = []
        self._reported: set[str] = set()
        self._room_sizes: dict[str, int] = {}
        # Editions of replayed events (stream.resume): after a blip a whole room resumes at once and
        # replays the same few events, so each is decoded and re-encoded once, not once per viewer.
        self._replayed: OrderedDict[bytes, audience.Editions | None] = OrderedDict()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="hub-listen"),
                       asyncio.create_task(self._report_viewers(), name="hub-viewers")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated

    async def join(self, viewer: Viewer) -> None:
        if viewer.role == "resident" and self._names is not None:
            viewer.name = (await self._names([viewer.user_id])).get(viewer.user_id, "")
        room = self.rooms[viewer.sid]
        if not room:
            await self._pubsub.subscribe(keys.channel(viewer.sid), keys.personal(viewer.sid))
        room.add(viewer)
        self._users[(viewer.sid, viewer.user_id)].add(viewer)

    async def leave(self, viewer: Viewer) -> None:
        room = self.rooms.get(viewer.sid)
        if room is None:
            return
        room.discard(viewer)
        mine = self._users.get((viewer.sid, viewer.user_id))
        if mine is not None:
            mine.discard(viewer)
            if not mine:
                del self._users[(viewer.sid, viewer.user_id)]
        if not room:
            del self.rooms[viewer.sid]
            with contextlib.suppress(RedisError, ConnectionError):
                await self._pubsub.unsubscribe(keys.channel(viewer.sid), keys.personal(viewer.sid))

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
            for viewer in viewers:
                viewer.offer(data)
            return
        for viewer in viewers:
            viewer.offer(editions.for_viewer(viewer.user_id, viewer.role))

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
        viewers = self._users.get((sid, envelope.to))
        if viewers:
            frame = bytes(envelope.frame)
            for viewer in list(viewers):
                viewer.offer(frame)

    async def _listen(self) -> None:
        # A private control channel makes the pub/sub connection exist before any session is
        # joined; keep trying, so a web process can start while Redis is still coming up.
        while True:
            try:
                await self._pubsub.subscribe(f"linli:hub:{self.process_id}")
                break
            except (RedisError, ConnectionError, OSError) as exc:
                log.warning("cannot subscribe yet: %s", exc)
                await asyncio.sleep(1)
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, ConnectionError) as exc:
                log.warning("pub/sub connection lost, resubscribing: %s", exc)
                await asyncio.sleep(0.5)
                continue
            if message is None or message["type"] != "message":
                continue
            channel = message["channel"].decode()
            if channel.startswith("{s:"):
                sid = channel[3:channel.index("}")]
                if channel.endswith(":personal"):
                    self.deliver_personal(sid, message["data"])
                else:
                    try:
                        await self._deliver_event(sid, message["data"])
                    except Exception:  # one unreadable event must not end every session's fan-out
                        log.exception("dropped an event of session %s", sid)

    async def _deliver_event(self, sid: str, data: bytes) -> None:
        # Awaited in the listener, so the events after a draw wait for its winners' names: order kept.
        winners = audience.winners_of(data) if sid in self.rooms and self._names is not None else []
        self.deliver(sid, data, await self._names(winners) if winners and self._names else None)

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

    async def total_viewers(self, sid: str) -> int:
        """The last published total across processes."""
        return int(await self.redis.hget(keys.viewers(sid), "_last") or 0)
