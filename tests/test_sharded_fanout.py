"""The live fan-out over sharded pub/sub: SPUBLISH on the session's shard channels, SSUBSCRIBE on the
node owning their slot, and no silent gap when a subscription is lost (a dropped connection, a
failover): what was missed comes from the history in seq order, or the viewers are told to resync."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from infra.ids import session_tag
from infra.redis_cluster import EmbeddedCluster, key_slot
from stream import keys
from stream.catchup import SessionSeqs
from stream.events import Publisher
from stream.hub import RESYNC_CLOSE_CODE
from stream.protocol import ItemPinned, Personal
from stream.scripts import Scripts
from stream.subscriptions import Subscriptions, server_name, too_old
from tests.live import SECRET, Api, bearer, token
from tests.servers import linli_env, shared_stores, spawn_linli, start_linli

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)


def test_shard_channels_share_the_slot_of_the_session_keys() -> None:
    """SPUBLISH in a script is refused on a cluster unless the channel is in the script's slot."""
    for n in range(200):
        sid = f"s{n}x"
        slot = key_slot(keys.event_seq(sid))
        assert {key_slot(k) for k in (keys.channel(sid), keys.personal(sid), keys.history(sid),
                                      keys.viewers(sid), keys.bag(sid, "b1"))} == {slot}
        assert keys.session_of(keys.channel(sid)) == sid == keys.session_of(keys.personal(sid))
        assert slot == key_slot(session_tag(sid))


def test_servers_without_sharded_pubsub_are_named() -> None:
    """Redis before 7.0 has no SSUBSCRIBE: the start refuses with the server's name and version."""
    assert server_name({"redis_version": "6.2.14"}) == ("redis", "6.2.14", False)
    assert server_name({"redis_version": "7.0.15"}) == ("redis", "7.0.15", True)
    assert server_name({"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "8.0.2"}) == (
        "valkey", "8.0.2", True)
    assert "redis 6.2.14" in too_old("redis", "6.2.14") and ">= 7.0" in too_old("redis", "6.2.14")


class Heard:
    """What a subscriber hands on, through the hub's own gap filling."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.events: list[bytes] = []
        self.resynced: list[str] = []
        self.seqs = SessionSeqs(redis, self._deliver, self.resynced.append)
        self.subs = Subscriptions(redis, self._on_message, self.seqs.catch_up)

    async def _deliver(self, sid: str, data: bytes) -> None:
        self.events.append(data)

    async def _on_message(self, channel: str, data: bytes) -> None:
        await self.seqs.on_event(keys.session_of(channel), data)

    def seqs_heard(self) -> list[int]:
        return [json.loads(e)["seq"] for e in self.events]


async def _kill_subscribers(redis: aioredis.Redis) -> int:
    listed = await redis.execute_command("CLIENT", "LIST")  # type: ignore[no-untyped-call]
    text = listed.decode() if isinstance(listed, bytes) else str(listed)
    ids = [line.split("id=", 1)[1].split(" ", 1)[0] for line in text.splitlines() if "name=linli-subscriber" in line]
    for cid in ids:
        await redis.execute_command("CLIENT", "KILL", "ID", cid)  # type: ignore[no-untyped-call]
    return len(ids)


async def test_a_dropped_subscriber_connection_is_filled_in_from_the_history(redis: aioredis.Redis) -> None:
    """Events published while the subscriber's connection is down arrive after it is back: all, once, in order."""
    sid = "gap1"
    publisher = Publisher(redis, Scripts())
    heard = Heard(redis)
    await heard.subs.start()
    try:
        assert await heard.subs.add(sid, (keys.channel(sid), keys.personal(sid)))
        await heard.seqs.start_at(sid)
        for n in range(3):
            await publisher.publish(sid, ItemPinned(item_id=f"i{n}"))
        await _until(lambda: len(heard.events) == 3)
        assert await _kill_subscribers(redis) == 1
        for n in range(3, 8):  # the subscriber reconnects no sooner than 0.2 s: these are missed live
            await publisher.publish(sid, ItemPinned(item_id=f"i{n}"))
        await _until(lambda: heard.subs.subscribed(sid) and len(heard.events) >= 8)
        for n in range(8, 10):
            await publisher.publish(sid, ItemPinned(item_id=f"i{n}"))
        await _until(lambda: len(heard.events) >= 10)
        await asyncio.sleep(0.2)
        assert heard.seqs_heard() == list(range(1, 11))
        assert heard.seqs.filled == 5 and heard.resynced == []
    finally:
        await heard.subs.stop()


async def test_a_gap_the_history_no_longer_holds_makes_the_viewers_resync(redis: aioredis.Redis) -> None:
    """When the history lost the events after the last one handed on, nothing is made up: the session resyncs."""
    sid = "gap2"
    publisher = Publisher(redis, Scripts())
    heard = Heard(redis)
    await heard.subs.start()
    try:
        assert await heard.subs.add(sid, (keys.channel(sid),))
        await heard.seqs.start_at(sid)
        await publisher.publish(sid, ItemPinned(item_id="i0"))
        await _until(lambda: len(heard.events) == 1)
        assert await _kill_subscribers(redis) == 1
        for n in range(1, 4):
            await publisher.publish(sid, ItemPinned(item_id=f"i{n}"))
        await redis.delete(keys.history(sid))  # as if trimmed, or lost with a failed primary
        await _until(lambda: heard.resynced == [sid])
        assert heard.seqs_heard() == [1] and heard.seqs.filled == 0
    finally:
        await heard.subs.stop()


async def _until(ok: Any, within_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not ok():
        assert asyncio.get_running_loop().time() < deadline, "not within the time limit"
        await asyncio.sleep(0.02)


# -- on a Redis Cluster: real web processes, real viewers, a primary killed mid-sale ---------------------


@dataclass
class Watcher:
    """A viewer that reconnects like the live page: after any close, with the last seq it saw."""

    base: str
    sid: str
    user: str
    events: list[dict[str, Any]] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)
    ws: ClientConnection | None = None
    task: asyncio.Task[None] | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    def last_seq(self) -> int:
        for event in reversed(self.events):
            if "seq" in event:
                return int(event["seq"])
            if event["type"] == "resumed":
                return int(event["after"])
        return 0

    async def _run(self) -> None:
        while True:
            since = self.last_seq()
            url = f"{self.base}/ws/sessions/{self.sid}" + (f"?since={since}" if since else "")
            try:
                async with connect(url, additional_headers=bearer(token(self.user)), open_timeout=10) as ws:
                    self.ws = ws
                    async for raw in ws:
                        self.events.append(json.loads(raw))
                        self.connected.set()
                    self.closes.append(ws.protocol.close_code)
            except Exception as exc:  # noqa: BLE001 - refused or dropped while failing over
                self.closes.append(getattr(exc, "code", None))
            self.connected.clear()
            await asyncio.sleep(0.3)

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def numbered(self) -> list[int]:
        return [int(e["seq"]) for e in self.events if "seq" in e and e["type"] != "snapshot"]

    def check_order(self) -> None:
        """Within each connection seqs follow one another; a new connection starts where the last ended
        (resumed after it) or from a snapshot; nothing is seen twice or out of order."""
        last = 0
        for event in self.events:
            if event["type"] == "snapshot":
                assert event["seq"] >= last or self.rewound(event["seq"], last), (self.user, event["seq"], last)
                last = event["seq"]
            elif event["type"] == "resumed":
                assert event["after"] == last, (self.user, event, last)
            elif "seq" in event:
                assert event["seq"] == last + 1, (self.user, last, event)
                last = event["seq"]

    def rewound(self, snap: int, last: int) -> bool:
        # Async replication may lose the newest events with a killed primary; then the session resyncs
        # to what the new primary has (a snapshot below the last seq), never silently.
        return RESYNC_CLOSE_CODE in self.closes


@pytest.fixture
async def two_webs_on_the_cluster(tmp_path: Path, redis_cluster: EmbeddedCluster,
                                  cluster_redis: aioredis.Redis) -> AsyncIterator[tuple[Api, str, str]]:
    async with shared_stores(tmp_path) as (_redis_url, db_url):
        env = linli_env(tmp_path, REDIS_URL=redis_cluster.url, DATABASE_URL=db_url, LINLI_SECRET=SECRET)
        procs = [spawn_linli(["worker"], env, tmp_path / "worker.log")]
        http = aiohttp.ClientSession()
        try:
            procs += await asyncio.gather(start_linli(["web"], env, tmp_path / "a.log"),
                                          start_linli(["web"], env, tmp_path / "b.log"))
            api = Api(http, procs[1].url)
            status, _ = await api.call("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
            assert status in (201, 409)
            yield api, procs[1].url.replace("http", "ws"), procs[2].url.replace("http", "ws")
        finally:
            await http.close()
            for p in procs:
                p.stop()
            if any(not node.alive for node in redis_cluster.nodes):
                await redis_cluster.revive()


async def _sessions_on_two_primaries(api: Api, redis_cluster: EmbeddedCluster) -> list[tuple[str, list[str]]]:
    found: dict[int, tuple[str, list[str]]] = {}
    while len(found) < 2:
        s = await api.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"})
        primary = (await redis_cluster.primary_of(session_tag(s["id"]))).port
        if primary not in found:
            items = [(await api.ok("POST", f"/api/sessions/{s['id']}/items", HOST,
                                   {"title": f"红薯{n}", "price_cents": 350, "stock": 50, "unit": "斤"}))["id"]
                     for n in range(2)]
            await api.ok("POST", f"/api/sessions/{s['id']}/live", HOST)
            found[primary] = (s["id"], items)
    return list(found.values())


async def _pin_forever(api: Api, sid: str, items: list[str], pinned: list[int]) -> None:
    n = 0
    while True:
        status, _ = await api.call("POST", f"/api/sessions/{sid}/items/{items[n % 2]}/pin", HOST)
        if status == 200:
            pinned.append(n)
            n += 1
        await asyncio.sleep(0.05)


async def _caught_up(watcher: Watcher, final: int) -> None:
    # At least: the rooms' viewer counts go on numbering events after ``final`` was read, and a
    # process catching up from the history hands them on together with the missed ones.
    try:
        await _until(lambda: watcher.last_seq() >= final, 15)
    except AssertionError:
        seqs = [(e.get("seq", e.get("after")), e["type"]) for e in watcher.events[-6:]]
        raise AssertionError(f"{watcher.user} on {watcher.base} watching {watcher.sid} stopped at seq "
                             f"{watcher.last_seq()} of {final}; its last events {seqs}, "
                             f"closes {watcher.closes}") from None


async def test_viewers_on_two_processes_miss_nothing_across_a_failover(
        two_webs_on_the_cluster: tuple[Api, str, str], redis_cluster: EmbeddedCluster,
        cluster_redis: aioredis.Redis) -> None:
    """Sessions on two primaries, viewers on both web processes; the primary of one session is killed
    mid-sale. Every viewer keeps receiving events in order with none missing (filled in from the
    history or, for what the failover lost, a resync), and a personal frame reaches only its user."""
    api, ws_a, ws_b = two_webs_on_the_cluster
    sessions = await _sessions_on_two_primaries(api, redis_cluster)
    watchers = [Watcher(base, sid, f"u{i}{j}") for i, (sid, _) in enumerate(sessions) for j, base in
                enumerate((ws_a, ws_b, ws_b))]
    for w in watchers:
        w.start()
    await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for w in watchers)), 20)
    # A personal frame for one user: only her viewer gets it, on whichever process she watches.
    sid0 = sessions[0][0]
    envelope = Personal(to="u01", frame=msgspec.Raw(b'{"type":"notice_test","n":1}'))
    await cluster_redis.execute_command("SPUBLISH", keys.personal(sid0), msgspec.json.encode(envelope))  # type: ignore[no-untyped-call]
    pinned: list[list[int]] = [[], []]
    pinners = [asyncio.create_task(_pin_forever(api, sid, items, pinned[i])) for i, (sid, items) in enumerate(sessions)]
    try:
        await _until(lambda: all(len(p) >= 10 for p in pinned), 20)
        failed = await redis_cluster.kill_primary(session_tag(sid0))
        await redis_cluster.wait_for_failover(failed)
        done = [len(p) for p in pinned]
        await _until(lambda: all(len(p) >= d + 10 for p, d in zip(pinned, done, strict=True)), 30)
    finally:
        for task in pinners:
            task.cancel()
        await asyncio.gather(*pinners, return_exceptions=True)
    finals = [int(await cluster_redis.get(keys.event_seq(sid)) or 0) for sid, _ in sessions]
    try:
        for w, final in zip(watchers, [finals[0]] * 3 + [finals[1]] * 3, strict=True):
            await _caught_up(w, final)
            w.check_order()
        assert [w.user for w in watchers if any(e["type"] == "notice_test" for e in w.events)] == ["u01"]
        untouched = [w for w in watchers if w.sid != sid0]
        assert all(w.closes == [] for w in untouched), [w.closes for w in untouched]
    finally:
        for w in watchers:
            await w.stop()
