"""A live session's slot migrated between Redis Cluster primaries mid-sale, the way ``redis-cli --cluster
reshard`` moves it: real `linli web` processes and a worker on REDIS_URL=redis+cluster://..., viewers on
both processes, websocket grabbers tapping, and the session's keys sent to another primary in small
batches while the sale goes on, then back in one (``EmbeddedCluster.migrate_slot``). Grabs meet ASK and
TRYAGAIN in between, the fan-out's shard channels are unsubscribed by the old owner and subscribed at
the new one, and the outbox stream moves with its consumer group under the worker (reliability.md, "A
session's slot migrated mid-sale")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from infra.ids import session_tag
from infra.redis_cluster import EmbeddedCluster, SlotMigration, key_slot
from infra.resources import redis_client
from inventory import Inventory
from stream import keys
from stream.hub import RESYNC_CLOSE_CODE
from tests.crowd import Crowd
from tests.live import Api
from tests.test_cluster_live import HOST, OPERATOR, crowd_for, linli_on, tally
from tests.test_sharded_fanout import Watcher, _until

STOCK = 300
BEFORE = 80  # grabs acknowledged before the slot starts moving


async def _pin_forever(api: Api, sid: str, items: list[str], pinned: list[float],
                       refused: list[tuple[int, str]]) -> None:
    """The host pins one item then the other, as fast as the API answers: events all through the move.
    A pin that fails while the slot is in between (redis-py gave up on it: TTL exhausted) is noted with
    its status and code, and asked again."""
    n = 0
    while True:
        status, body = await api.call("POST", f"/api/sessions/{sid}/items/{items[n % 2]}/pin", HOST)
        if status == 200:
            pinned.append(asyncio.get_running_loop().time())
            n += 1
        else:
            refused.append((status, body["error"]["code"]))
        await asyncio.sleep(0.05)


@pytest.fixture
async def slots_put_back(redis_cluster: EmbeddedCluster) -> AsyncIterator[dict[int, int]]:
    """Slot -> the port of its primary before the test moved it; moved back after, so the next test finds
    the slot ranges EmbeddedCluster assigns (tests.cluster.sessions_on_every_primary counts on them)."""
    homes: dict[int, int] = {}
    yield homes
    for slot, port in homes.items():
        if (await redis_cluster.primary_of(slot)).port != port:
            await redis_cluster.migrate_slot(slot, port, batch=100)


@dataclass
class MoveMidSale:
    """One migration of the session's slot during the sale, and what the sale did meanwhile."""

    migration: SlotMigration
    acked_before: int
    acked_during: int  # grabs acknowledged while the slot was in between
    pins_during: int  # host pins answered meanwhile
    stall_s: float  # the longest stretch without an acknowledged grab, from the start until 20 grabs after

    def line(self) -> str:
        m = self.migration
        return (f":{m.from_port} -> :{m.to_port}, {m.keys} keys in {m.batches} MIGRATE batches, ASK/TRYAGAIN for "
                f"{m.window_s:.2f} s, every node agreeing after {m.seconds:.2f} s; grabs acknowledged meanwhile "
                f"{self.acked_during}, host pins {self.pins_during}; "
                f"longest stretch without an acknowledged grab {self.stall_s:.2f} s")


async def _move_mid_sale(cluster: EmbeddedCluster, crowd: Crowd, pinned: list[float], sid: str, to_port: int, *,
                         batch: int, pause_s: float) -> MoveMidSale:
    """Migrate the session's slot while the crowd grabs and the host pins; returns once the new owner has
    acknowledged 20 more grabs."""
    loop = asyncio.get_running_loop()
    stall = [0.0]

    async def watch() -> None:  # sampled every 10 ms
        count, since = len(crowd.acked()), loop.time()
        while True:
            await asyncio.sleep(0.01)
            if len(crowd.acked()) != count:
                count, since = len(crowd.acked()), loop.time()
            stall[0] = max(stall[0], loop.time() - since)

    before, pins = len(crowd.acked()), len(pinned)
    watcher = asyncio.create_task(watch())
    try:
        migration = await cluster.migrate_slot(session_tag(sid), to_port, batch=batch, pause_s=pause_s)
        during, pins_during = len(crowd.acked()) - before, len(pinned) - pins
        await crowd.until_acked(before + during + 20, within_s=30)  # the sale goes on at the new owner
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    assert (await cluster.primary_of(session_tag(sid))).port == to_port
    return MoveMidSale(migration, before, during, pins_during, stall[0])


@pytest.mark.timeout(90)
async def test_a_sessions_slot_migrated_mid_sale_loses_nothing_and_sells_exactly_its_stock(
        redis_cluster: EmbeddedCluster, cluster_redis: object, tmp_path: Path,
        slots_put_back: dict[int, int]) -> None:
    """One live session, 4 viewers over 2 web processes, 8 grabbers and the host pinning; its slot moves
    to another primary in small batches with pauses, then back in one batch. Every acknowledged grab is
    one SQL order, none is taken twice, exactly the stock is sold (Redis and SQL), grabs are acknowledged
    after each move, and every viewer gets every event in order, with no resync, up to the host's pin and
    flash after the sale."""
    async with linli_on(redis_cluster, tmp_path) as stack, aiohttp.ClientSession() as http:
        api = Api(http, stack.webs[0].url)
        await api.ok("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
        sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "搬槽开抢", "community_id": "c1"}))["id"]
        iid = (await api.ok("POST", f"/api/sessions/{sid}/items", HOST,
                            {"title": "土鸡蛋", "price_cents": 100, "stock": STOCK, "unit": "盒"}))["id"]
        other = (await api.ok("POST", f"/api/sessions/{sid}/items", HOST,
                              {"title": "红薯", "price_cents": 350, "stock": 50, "unit": "斤"}))["id"]
        await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
        await api.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 3600})
        source = (await redis_cluster.primary_of(session_tag(sid))).port
        target = next(port for port in await redis_cluster.primary_ports() if port != source)
        slots_put_back[key_slot(session_tag(sid))] = source

        watchers = [Watcher(base, sid, f"v{n}") for n, base in enumerate(stack.ws_bases * 2)]
        for w in watchers:
            w.start()
        pinned: list[float] = []
        refused: list[tuple[int, str]] = []
        pinner: asyncio.Task[None] | None = None
        crowd: Crowd | None = None
        try:
            await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for w in watchers)), 20)
            crowd = crowd_for({sid: iid}, stack, per_session=8)
            pinner = asyncio.create_task(_pin_forever(api, sid, [iid, other], pinned, refused))
            await crowd.until_acked(BEFORE, within_s=30)
            # As an operator would move a busy slot slowly: small batches with pauses, grabs and the host's
            # pins meeting ASK and TRYAGAIN all along; then back in one batch, the way to do it mid-sale.
            slow = await _move_mid_sale(redis_cluster, crowd, pinned, sid, target, batch=8, pause_s=0.15)
            fast = await _move_mid_sale(redis_cluster, crowd, pinned, sid, source, batch=1000, pause_s=0)
            await crowd.until_acked(STOCK, within_s=45)  # the sale goes on at the new owner, to its end
            await asyncio.sleep(0.5)  # a few grabs more meet an empty shelf
        finally:
            if pinner is not None:
                pinner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinner
            if crowd is not None:
                await crowd.finish()
        # The host's later events reach everyone.
        sale_end = int(await cluster_redis.get(keys.event_seq(sid)) or 0)  # type: ignore[attr-defined]
        await api.ok("POST", f"/api/sessions/{sid}/items/{other}/pin", HOST)
        await api.ok("POST", f"/api/sessions/{sid}/items/{other}/flash", HOST, {"duration_s": 60})
        final = int(await cluster_redis.get(keys.event_seq(sid)) or 0)  # type: ignore[attr-defined]
        try:
            asked = asyncio.get_running_loop().time()
            with contextlib.suppress(AssertionError):
                await _until(lambda: all(w.last_seq() >= final for w in watchers), 20)
            caught_up_s = asyncio.get_running_loop().time() - asked
            # At or past it: the stock and buyers tickers may number one more event after the flash.
            assert all(w.last_seq() >= final for w in watchers), (
                final, [(w.user, w.base, w.last_seq(), w.closes, w.events[-3:]) for w in watchers])
            for w in watchers:
                w.check_order()
        finally:
            for w in watchers:
                await w.stop()
        counted = await tally(redis_cluster, stack, {sid: iid}, crowd.acked())
        redis = redis_client(redis_cluster.url)
        try:
            shelf = (await Inventory(redis).snapshot(sid))[iid]
        finally:
            await redis.aclose()
        logs = [web.output() for web in stack.webs]
        unsubscribed = sum(text.count("its slot moved") for text in logs)
        after = len(crowd.acked()) - fast.acked_before - fast.acked_during
        print(f"\n[slot migration] slot {slow.migration.slot}, grabs acknowledged before {slow.acked_before}; "
              f"slowly {slow.line()}; back in one go {fast.line()}; grabs acknowledged after {after}, host pins "
              f"{len(pinned)} in all, {len(refused)} refused; final seq {final}, {len(watchers)} viewers "
              f"at it {caught_up_s:.2f} s after the flash (closes {[w.closes for w in watchers]}); "
              f"shard channels unsubscribed by the old owner on the web processes: {unsubscribed}; {counted.line()}; "
              f"{crowd.report()}")

    assert slow.migration.batches > 1 and fast.migration.batches == 1
    # A pin the cluster could not serve while the slot was in between is "try again", never "internal".
    assert set(refused) <= {(503, "unavailable")}, refused
    assert len(crowd.acked()) == STOCK
    assert counted.lost == set()
    assert counted.twice == set()
    assert counted.oversold == 0
    assert {oid for oid, (s, _) in counted.sql.items() if s == sid} == set(crowd.acked().values())
    assert (shelf.left, shelf.sold) == (0, STOCK)
    assert after > 0  # grabs acknowledged after both moves
    for w in watchers:
        assert RESYNC_CLOSE_CODE not in w.closes, (w.user, w.closes)
        later = {e["type"]: e for e in w.events if e.get("seq", 0) > sale_end and e["type"] != "snapshot"}
        assert later["item_pinned"]["item_id"] == other, (w.user, later)
        assert "flash_started" in later, (w.user, later)
