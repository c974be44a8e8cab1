"""Comment-to-grab, scheduled flash sales, the purchase ticker and host insight, end to end: two
real web processes and a worker on one Redis and one SQL database, with real websocket clients."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from stream.comment_grab import read_comment
from stream.protocol import ItemView
from tests.live import SECRET, Api, Client, token
from tests.servers import ServerProcess, linli_env, shared_stores, spawn_linli, start_linli

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)
SWEET = {"title": "红薯", "price_cents": 350, "stock": 50, "per_user_limit": 3, "unit": "斤"}
PURPLE = {"title": "紫薯", "price_cents": 500, "stock": 50, "per_user_limit": 0, "unit": "斤"}
DRIED = {"title": "红薯干", "price_cents": 1200, "stock": 20, "per_user_limit": 0, "unit": "份"}


class Cluster:
    def __init__(self, a: ServerProcess, b: ServerProcess, http: aiohttp.ClientSession, redis_url: str) -> None:
        self.a, self.b = Api(http, a.url), Api(http, b.url)
        self.redis_url = redis_url
        self.ws_a, self.ws_b = a.url.replace("http", "ws"), b.url.replace("http", "ws")

    async def session(self, items: list[dict[str, Any]], *, live: bool = True) -> tuple[str, list[str]]:
        s = await self.a.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"})
        ids = [(await self.a.ok("POST", f"/api/sessions/{s['id']}/items", HOST, item))["id"] for item in items]
        if live:
            await self.a.ok("POST", f"/api/sessions/{s['id']}/live", HOST)
        return s["id"], ids

    async def orders(self, sid: str, count: int) -> list[dict[str, Any]]:
        """The session's orders in SQL once the worker wrote ``count`` of them."""
        for _ in range(150):
            found: list[dict[str, Any]] = (await self.b.ok("GET", f"/api/sessions/{sid}/orders", HOST))["orders"]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"{len(found)} orders in SQL, expected {count}")


async def _communities(api: Api) -> None:
    for cid, name in (("c1", "幸福里"), ("c2", "望江苑")):
        status, _ = await api.call("POST", "/api/communities", OPERATOR, {"id": cid, "name": name})
        assert status in (201, 409)


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("commerce")
    async with shared_stores(tmp) as (redis_url, db_url):
        env = linli_env(tmp, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET)
        procs = [spawn_linli(["worker"], env, tmp / "worker.log")]
        http = aiohttp.ClientSession()
        try:
            procs += [await start_linli(["web"], env, tmp / "a.log"), await start_linli(["web"], env, tmp / "b.log")]
            await _communities(Api(http, procs[1].url))
            yield Cluster(procs[1], procs[2], http, redis_url)
        finally:
            await http.close()
            for p in procs:
                p.stop()


async def _say(client: Client, text: str, **more: str) -> None:
    """Comment as a resident does, no faster than the room's comment limit (1 a second)."""
    await asyncio.sleep(1.05)
    await client.send({"type": "comment", "text": text, **more})


def _items() -> list[ItemView]:
    return [ItemView(id=f"i{n}", title=i["title"], price_cents=1, unit=i["unit"], left=5,
                     per_user_limit=i["per_user_limit"], on_sale=True) for n, i in enumerate([SWEET, PURPLE, DRIED], 1)]


@pytest.mark.parametrize(("text", "pinned", "grab"), [
    ("红薯+2", None, ("i1", 2)), ("红薯 +2斤", None, ("i1", 2)), ("红薯＋两斤", None, ("i1", 2)),
    ("2号+1", None, ("i2", 1)), ("+1", "i3", ("i3", 1)), ("我要红薯+1", None, ("i1", 1)),
    ("红薯干+x2", None, ("i3", 2)), ("紫薯 + 2", None, ("i2", 2)),
])
def test_a_comment_reads_as_a_grab(text: str, pinned: str | None, grab: tuple[str, int]) -> None:
    """红薯+2, 2号+1, +1 (the pinned item), full-width ＋ and 两 read as one item and a quantity."""
    reading = read_comment(text, _items(), pinned)
    assert reading is not None and reading.code is None and (reading.item_id, reading.qty) == grab


@pytest.mark.parametrize(("text", "code"), [
    ("+1", "no_pinned_item"), ("9号+1", "unknown_item"), ("薯+1", "ambiguous_item"), ("红薯+5", "over_limit"),
    ("红薯+2份", "wrong_unit"), ("红薯+2.5", "not_whole"), ("地瓜+1", "unknown_item"),
])
def test_an_unclear_grab_comment_is_answered_not_guessed(text: str, code: str) -> None:
    """Two items match, nothing pinned, an unknown number, past the limit, a wrong unit: an answer, no grab."""
    reading = read_comment(text, _items(), None)
    assert reading is not None and reading.code == code and reading.item_id is None


@pytest.mark.parametrize("text", ["主播好", "好+赞", "1+1", "3楼+1", "红薯好甜", "哈哈哈", "+", "红薯+"])
def test_plain_chat_is_never_a_grab(text: str) -> None:
    """Chat without the shape <item>+<quantity> reads as nothing."""
    assert read_comment(text, _items(), "i1") is None


async def test_comment_grabs_obey_limits_and_idempotency(cluster: Cluster) -> None:
    """Comments grab through the reserve: the limit holds, a resent comment grabs once, unclear ones are
    answered to their author only, chat grabs nothing, and every comment is still shown."""
    sid, (sweet, purple, dried) = await cluster.session([SWEET, PURPLE, DRIED])
    for iid in (sweet, purple):
        await cluster.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 60})
    buyer = await Client.join(cluster.ws_a, sid, token("cg1"))
    watcher = await Client.join(cluster.ws_b, sid, token("cg-watch"))

    await _say(buyer, "红薯+2", request_id="m1")
    first = await buyer.wait_for(lambda e: e["type"] == "grab_result")
    assert first["ok"] and first["item_id"] == sweet and first["qty"] == 2
    # The page resends the same comment (a reconnect): the first answer again, no second order.
    await _say(buyer, "红薯+2", request_id="m1")
    again = await buyer.wait_for(lambda e: e["type"] == "grab_result" and e is not first)
    assert again["order_id"] == first["order_id"]
    # Without a page id, the same comment twice in one sale grabs once too.
    await _say(buyer, "2号+1")
    await _say(buyer, "2号+1")
    await buyer.wait_for(lambda e: len([r for r in buyer.of_type("grab_result") if r["item_id"] == purple]) == 2)
    purple_results = [r for r in buyer.of_type("grab_result") if r["item_id"] == purple]
    assert purple_results[0]["order_id"] == purple_results[1]["order_id"]
    # The limit is 3: 2 held, 2 more is refused by the reserve with the grab frame's reason.
    await _say(buyer, "红薯＋两斤", request_id="m2")
    refused = await buyer.wait_for(lambda e: e["type"] == "grab_result" and e["request_id"] != first["request_id"]
                                   and e["item_id"] == sweet)
    assert not refused["ok"] and refused["reason"] == "limit"
    # Unclear comments are answered, never guessed; a dried-potato comment is not on sale.
    unclear = [("+1", "no_pinned_item"), ("9号+1", "unknown_item"), ("薯+1", "ambiguous_item"),
               ("红薯+4", "over_limit")]
    askers = [await Client.join(cluster.ws_b, sid, token(f"cq{n}")) for n in range(len(unclear))]
    await asyncio.gather(*(c.send({"type": "comment", "text": text})
                           for c, (text, _) in zip(askers, unclear, strict=True)))
    for c, (text, code) in zip(askers, unclear, strict=True):
        answer = await c.wait_for(lambda e: e["type"] == "grab_unclear")
        assert answer["code"] == code and answer["text"] == text, answer
    await _say(buyer, "3号+1")
    assert (await buyer.wait_for(lambda e: e["type"] == "grab_result" and e["item_id"] == dried))["reason"] \
        == "not_on_sale"
    await _say(buyer, "主播好")
    await watcher.wait_for(lambda e: e["type"] == "comment" and e["text"] == "主播好")
    # Every comment reached the room as written, and only the author heard the answers.
    texts = [e["text"] for e in watcher.of_type("comment")]
    assert texts.count("红薯+2") == 2 and "薯+1" in texts
    assert not watcher.of_type("grab_unclear") and not watcher.of_type("grab_result")
    assert all(len(c.of_type("grab_unclear")) == 1 and not c.of_type("grab_result") for c in askers)
    # Exactly the grabs that succeeded are orders: 2 红薯 and 1 紫薯.
    await cluster.orders(sid, 2)
    await asyncio.sleep(0.5)
    orders = (await cluster.b.ok("GET", f"/api/sessions/{sid}/orders", HOST))["orders"]
    assert sorted((o["item_id"], o["qty"]) for o in orders) == [(sweet, 2), (purple, 1)]
    # A host's "红薯+1" is chat, not a grab.
    host = await Client.join(cluster.ws_a, sid, HOST)
    await host.send({"type": "comment", "text": "红薯+1"})
    await watcher.wait_for(lambda e: e["type"] == "comment" and e["text"] == "红薯+1")
    await asyncio.sleep(0.3)
    assert not host.of_type("grab_result") and not host.of_type("grab_unclear")
    for c in (buyer, watcher, host, *askers):
        await c.close()


async def test_a_scheduled_flash_starts_once_across_two_web_processes(cluster: Cluster) -> None:
    """Viewers on both processes see the countdown, then exactly one flash_started at the planned time;
    a cancelled plan never starts."""
    sid, (sweet, purple) = await cluster.session([SWEET, PURPLE])
    viewers = [await Client.join(cluster.ws_a, sid, token("fa")), await Client.join(cluster.ws_b, sid, token("fb"))]
    plan = await cluster.a.ok("POST", f"/api/sessions/{sid}/flash-plans", HOST,
                              {"item_id": sweet, "in_s": 2, "duration_s": 30, "price_cents": 299})
    dropped = await cluster.b.ok("POST", f"/api/sessions/{sid}/flash-plans", HOST,
                                 {"item_id": purple, "in_s": 3, "duration_s": 30})
    queue = await cluster.b.ok("GET", f"/api/sessions/{sid}/flash-plans", HOST)
    assert [p["id"] for p in queue["plans"]] == [plan["id"], dropped["id"]]
    left = await cluster.a.ok("DELETE", f"/api/sessions/{sid}/flash-plans/{dropped['id']}", HOST)
    assert [p["id"] for p in left["plans"]] == [plan["id"]]
    for v in viewers:
        seen = await v.wait_for(lambda e: e["type"] == "flash_scheduled" and e["plan"]["id"] == plan["id"])
        assert seen["plan"]["item_id"] == sweet and seen["plan"]["starts_at"] == plan["starts_at"]
        await v.wait_for(lambda e: e["type"] == "flash_plan_cancelled" and e["plan_id"] == dropped["id"])
    late = await Client.join(cluster.ws_b, sid, token("fc"))
    assert [p["id"] for p in late.of_type("snapshot")[0]["flash_plans"]] == [plan["id"]]
    started = [await v.wait_for(lambda e: e["type"] == "flash_started", 10) for v in [*viewers, late]]
    assert all(s["plan_id"] == plan["id"] and s["item_id"] == sweet and s["price_cents"] == 299 for s in started)
    assert started[0]["ts"] >= plan["starts_at"] and started[0]["ts"] - plan["starts_at"] < 2000
    await asyncio.sleep(4)  # past the cancelled plan's time, and several polls of both processes
    for v in [*viewers, late]:
        assert len(v.of_type("flash_started")) == 1
    detail = await cluster.a.ok("GET", f"/api/sessions/{sid}", HOST)
    on_sale = {i["id"]: i["on_sale"] for i in detail["items"]}
    assert on_sale == {sweet: True, purple: False}
    # Too late to cancel a started flash; a resident cannot schedule.
    status, body = await cluster.a.call("DELETE", f"/api/sessions/{sid}/flash-plans/{plan['id']}", HOST)
    assert status == 409, body
    status, body = await cluster.a.call("POST", f"/api/sessions/{sid}/flash-plans", token("fa"),
                                        {"item_id": sweet, "in_s": 2, "duration_s": 30})
    assert status == 403
    for bad in [{"item_id": sweet, "duration_s": 30}, {"item_id": "i99", "in_s": 5, "duration_s": 30},
                {"item_id": sweet, "in_s": 5, "starts_at": 1, "duration_s": 30},
                {"item_id": sweet, "starts_at": 1000, "duration_s": 30}]:
        status, body = await cluster.a.call("POST", f"/api/sessions/{sid}/flash-plans", HOST, bad)
        assert status == 400, (bad, body)
    assert (await cluster.a.ok("GET", f"/api/sessions/{sid}/flash-plans", HOST))["plans"] == []
    for pid in ("nope", "a" * 65, "x:y"):
        status, body = await cluster.a.call("DELETE", f"/api/sessions/{sid}/flash-plans/{pid}", HOST)
        assert status == 400 and body["error"]["code"] == "unknown_plan", body
    for v in [*viewers, late]:
        await v.close()


async def test_a_scheduled_flash_survives_a_restart(tmp_path: Path) -> None:
    """A flash scheduled on a web process that stops before its time starts once, on time, from the
    web process that runs after the restart."""
    async with shared_stores(tmp_path) as (redis_url, db_url):
        env = linli_env(tmp_path, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET)
        async with aiohttp.ClientSession() as http:
            first = await start_linli(["web"], env, tmp_path / "first.log")
            try:
                api = Api(http, first.url)
                await _communities(api)
                s = await api.ok("POST", "/api/sessions", HOST, {"title": "晚场", "community_id": "c1"})
                iid = (await api.ok("POST", f"/api/sessions/{s['id']}/items", HOST, SWEET))["id"]
                await api.ok("POST", f"/api/sessions/{s['id']}/live", HOST)
                plan = await api.ok("POST", f"/api/sessions/{s['id']}/flash-plans", HOST,
                                    {"item_id": iid, "in_s": 3, "duration_s": 60})
            finally:
                assert first.stop() == 0
            await asyncio.sleep(max(0.0, plan["starts_at"] / 1000 - time.time()) + 0.5)  # down at the start time
            second = await start_linli(["web"], env, tmp_path / "second.log")
            try:
                api = Api(http, second.url)
                for _ in range(100):
                    item = (await api.ok("GET", f"/api/sessions/{s['id']}", HOST))["items"][0]
                    if item["on_sale"]:
                        break
                    await asyncio.sleep(0.1)
                assert item["on_sale"] and item["ends_at"] > plan["starts_at"]
                viewer = await Client.join(second.url.replace("http", "ws"), s["id"], token("after"))
                assert viewer.of_type("snapshot")[0].get("flash_plans", []) == []
                await viewer.send({"type": "grab", "item_id": iid, "request_id": "r1"})
                assert (await viewer.wait_for(lambda e: e["type"] == "grab_result"))["ok"]
                await viewer.close()
            finally:
                second.stop()
            redis = Redis.from_url(redis_url)
            try:
                assert (await redis.hget(f"{{s:{s['id']}}}:flash_plan:{plan['id']}", "state")) == b"started"
            finally:
                await redis.aclose()


async def test_the_ticker_never_counts_more_than_real_orders(cluster: Cluster) -> None:
    """40 residents on two processes grab (some twice with one request id, some past the limit, some
    after it sold out): the buyers counted by every ticker event add up to the orders in SQL, never more,
    and name no user id."""
    sid, (iid,) = await cluster.session([{**SWEET, "stock": 30, "per_user_limit": 1}])
    for n in range(40):  # registered residents, so the ticker can name them (masked)
        status, _ = await cluster.a.call("POST", "/api/communities/c1/residents", OPERATOR,
                                         {"id": f"t{n}", "name": f"王玉{n}"})
        assert status in (201, 409)
    watcher = await Client.join(cluster.ws_a, sid, token("tw"))
    buyers = await asyncio.gather(*(Client.join(cluster.ws_a if n % 2 else cluster.ws_b, sid, token(f"t{n}"))
                                    for n in range(40)))
    await cluster.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 60})
    await asyncio.gather(*(c.wait_for(lambda e: e["type"] == "flash_started") for c in buyers))
    await asyncio.gather(*(c.send({"type": "grab", "item_id": iid, "request_id": "once"}) for c in buyers))
    await asyncio.gather(*(c.wait_for(lambda e: e["type"] == "grab_result") for c in buyers))
    await asyncio.gather(*(c.send({"type": "grab", "item_id": iid, "request_id": "once"}) for c in buyers[:10]))
    await asyncio.gather(*(c.send({"type": "comment", "text": "红薯+1"}) for c in buyers[10:20]))
    await asyncio.gather(*(c.wait_for(lambda e, c=c: len(c.of_type("grab_result")) >= 2) for c in buyers[:20]))
    won = sum(any(r["ok"] for r in c.of_type("grab_result")) for c in buyers)
    assert won == 30
    orders = await cluster.orders(sid, 30)
    assert len(orders) == 30
    # Every buyer is announced within a few beats; never one more.
    await watcher.wait_for(lambda e: sum(b["count"] for b in watcher.of_type("buyers")) >= 30, 12)
    await asyncio.sleep(4.5)
    events = watcher.of_type("buyers")
    assert sum(e["count"] for e in events) == len({o["user_id"] for o in orders}) == 30
    assert all(1 <= len(e["names"]) <= min(3, e["count"]) for e in events)
    assert all(name.startswith("王*") for e in events for name in e["names"])
    # One ticker for the room: both processes' viewers hear the same events (one seq each).
    other = buyers[0]
    assert [e["seq"] for e in other.of_type("buyers")] == [e["seq"] for e in events[-len(other.of_type("buyers")):]]
    await asyncio.gather(*(c.close() for c in [watcher, *buyers]))


async def test_the_summary_matches_the_orders(cluster: Cluster) -> None:
    """After a live the summary's units, orders, buyers and revenue per item are the orders' figures; the
    CSV says the same; the chart counted every grab; only the host's community may read them."""
    sid, (sweet, purple) = await cluster.session([SWEET, PURPLE])
    for iid in (sweet, purple):
        await cluster.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 60})
    clients = await asyncio.gather(*(Client.join(cluster.ws_a if n % 2 else cluster.ws_b, sid, token(f"s{n}"))
                                     for n in range(8)))
    for n, c in enumerate(clients[:6]):
        await c.send({"type": "grab", "item_id": sweet, "qty": 1 + n % 3, "request_id": "a"})
        if n % 2:
            await c.send({"type": "comment", "text": f"紫薯+{n}"})
    await asyncio.gather(*(c.wait_for(lambda e: e["type"] == "grab_result") for c in clients[:6]))
    await asyncio.gather(*(c.wait_for(lambda e, c=c: len(c.of_type("grab_result")) == 2)
                           for n, c in enumerate(clients[:6]) if n % 2))
    expected = await cluster.orders(sid, 9)
    for _ in range(100):  # a ticker beat samples the viewers' total every 2-4 s
        if (await cluster.a.ok("GET", f"/api/sessions/{sid}/insight", HOST))["peak_viewers"] >= 8:
            break
        await asyncio.sleep(0.1)
    await cluster.a.ok("POST", f"/api/sessions/{sid}/end", HOST)
    summary = await cluster.b.ok("GET", f"/api/sessions/{sid}/summary", HOST)
    by_item = {i["item_id"]: i for i in summary["items"]}
    for iid in (sweet, purple):
        mine = [o for o in expected if o["item_id"] == iid]
        assert by_item[iid]["grabbed"] == sum(o["qty"] for o in mine)
        assert by_item[iid]["grab_orders"] == len(mine)
        assert by_item[iid]["buyers"] == len({o["user_id"] for o in mine})
        assert by_item[iid]["revenue_cents"] == sum(o["qty"] * o["price_cents"] for o in mine)
    assert summary["orders"] == len(expected) == 9
    assert summary["buyers"] == len({o["user_id"] for o in expected}) == 6
    assert summary["revenue_cents"] == sum(o["qty"] * o["price_cents"] for o in expected)
    assert summary["unique_viewers"] == 8 and summary["conversion_pct"] == 75.0
    assert summary["peak_viewers"] >= 8
    rows = list(csv.reader(io.StringIO(await _text(cluster, f"/api/sessions/{sid}/summary.csv"))))
    total = next(r for r in rows if r and r[0] == "total")
    assert int(total[4]) == sum(o["qty"] for o in expected) and total[-1] == f"{summary['revenue_cents'] / 100:.2f}"
    chart = await cluster.a.ok("GET", f"/api/sessions/{sid}/insight", HOST)
    assert chart["grabs"] == 9 and sum(p["grabs"] for p in chart["points"]) == 9
    assert chart["revenue_cents"] == summary["revenue_cents"] and max(p["viewers"] for p in chart["points"]) >= 8
    for who in (token("s1"), token("host9", "host", "c2"), token("g1", "grid")):
        for path in ("summary", "insight", "summary.csv", "flash-plans"):
            status, _ = await cluster.a.call("GET", f"/api/sessions/{sid}/{path}", who)
            assert status == 403, (who, path)
    assert (await cluster.a.call("GET", f"/api/sessions/{sid}/summary", None))[0] == 401
    assert (await cluster.a.call("GET", f"/api/sessions/{sid}/summary", token("a1", "admin")))[0] == 200
    await asyncio.gather(*(c.close() for c in clients))


async def _text(cluster: Cluster, path: str) -> str:
    async with cluster.a.http.get(cluster.a.base + path, headers={"Authorization": f"Bearer {HOST}"}) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        return await resp.text()
