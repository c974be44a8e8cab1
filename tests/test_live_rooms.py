"""Live rooms end to end: two real web processes and a worker sharing one Redis and one SQL
database, with real websocket clients."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
import sqlalchemy as sa
from websockets.exceptions import InvalidStatus

from infra.db import create_engine
from infra.tables import lucky_bag_draws, points_ledger
from tests.live import SECRET, Api, Client, token
from tests.servers import ServerProcess, linli_env, shared_stores, spawn_linli, start_linli

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)


class Cluster:
    def __init__(self, a: ServerProcess, b: ServerProcess, http: aiohttp.ClientSession, db_url: str) -> None:
        self.a, self.b = Api(http, a.url), Api(http, b.url)
        self.db_url = db_url
        self.ws_a, self.ws_b = a.url.replace("http", "ws"), b.url.replace("http", "ws")

    async def session(self, items: list[dict], *, live: bool = True) -> tuple[str, list[str]]:
        s = await self.a.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"})
        ids = [(await self.a.ok("POST", f"/api/sessions/{s['id']}/items", HOST, item))["id"] for item in items]
        if live:
            await self.a.ok("POST", f"/api/sessions/{s['id']}/live", HOST)
        return s["id"], ids


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    async with shared_stores(tmp) as (redis_url, db_url):
        env = linli_env(tmp, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET)
        procs = [spawn_linli(["worker"], env, tmp / "worker.log")]
        http = aiohttp.ClientSession()
        try:
            procs += [await start_linli(["web"], env, tmp / "a.log"), await start_linli(["web"], env, tmp / "b.log")]
            web_a = Api(http, procs[1].url)
            status, _ = await web_a.call("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
            assert status in (201, 409)
            await web_a.call("POST", "/api/communities", OPERATOR, {"id": "c2", "name": "望江苑"})
            yield Cluster(procs[1], procs[2], http, db_url)
        finally:
            await http.close()
            for p in procs:
                p.stop()


ITEM = {"title": "红薯", "price_cents": 350, "stock": 50, "per_user_limit": 1, "unit": "斤"}


async def test_grab_on_one_process_is_seen_as_stock_on_the_other(cluster: Cluster) -> None:
    """A viewer on process B sees the flash start and the stock drop after a grab on process A."""
    sid, (iid,) = await cluster.session([ITEM])
    viewer = await Client.join(cluster.ws_b, sid, token("watcher"))
    buyer = await Client.join(cluster.ws_a, sid, token("buyer"))
    snap = buyer.of_type("snapshot")[0]
    assert snap["status"] == "live" and snap["items"][0]["left"] == 50 and snap["items"][0]["unit"] == "斤"
    await cluster.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/pin", HOST)
    await cluster.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 30})
    await viewer.wait_for(lambda e: e["type"] == "item_pinned" and e["item_id"] == iid)
    await viewer.wait_for(lambda e: e["type"] == "flash_started" and e["item_id"] == iid)
    await buyer.wait_for(lambda e: e["type"] == "flash_started")
    await buyer.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "g1"})
    result = await buyer.wait_for(lambda e: e["type"] == "grab_result")
    assert result["ok"] and result["order_id"] and result["request_id"] == "g1"
    await viewer.wait_for(lambda e: e["type"] == "stock" and e["item_id"] == iid and e["left"] == 49)
    # The same request id again: the first answer, no second order.
    await buyer.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "g1"})
    await buyer.wait_for(lambda e: e["type"] == "grab_result" and e is not result)
    again = buyer.of_type("grab_result")[1]
    assert again["order_id"] == result["order_id"]
    # Sequence numbers only go up.
    seqs = [e["seq"] for e in viewer.events if "seq" in e]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for c in (viewer, buyer):
        await c.close()


async def test_500_clients_race_for_50_units_and_exactly_50_win(cluster: Cluster) -> None:
    """500 residents on two processes grab at once: 50 win, 450 hear sold_out, SQL holds 50 orders."""
    sid, (iid,) = await cluster.session([ITEM])
    clients = await asyncio.gather(*(
        Client.join(cluster.ws_a if n % 2 else cluster.ws_b, sid, token(f"r{n}")) for n in range(500)))
    await cluster.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 60})
    await asyncio.gather(*(c.wait_for(lambda e: e["type"] == "flash_started", 20) for c in clients))
    await asyncio.gather(*(c.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "x"}) for c in clients))
    results = await asyncio.gather(*(c.wait_for(lambda e: e["type"] == "grab_result", 30) for c in clients))
    assert sum(r["ok"] for r in results) == 50
    assert {r["reason"] for r in results if not r["ok"]} == {"sold_out"}
    # Everyone ends up seeing the item sold out.
    await asyncio.gather(*(c.wait_for(lambda e: e["type"] == "stock" and e["left"] == 0, 10) for c in clients))
    for _ in range(100):
        orders = (await cluster.b.ok("GET", f"/api/sessions/{sid}/orders", HOST))["orders"]
        if len(orders) == 50:
            break
        await asyncio.sleep(0.1)
    assert len(orders) == 50 and len({o["user_id"] for o in orders}) == 50
    assert {o["id"] for o in orders} == {r["order_id"] for r in results if r["ok"]}
    await asyncio.gather(*(c.close() for c in clients))


async def test_lucky_bag_draws_10_distinct_eligible_winners_once(cluster: Cluster) -> None:
    """300 eligible entrants, 10 winners: everyone sees one identical result; ineligible entries get reasons."""
    sid, (iid,) = await cluster.session([{**ITEM, "stock": 20, "title": "海鸭蛋"}])
    clients = await asyncio.gather(*(
        Client.join(cluster.ws_a if n % 2 else cluster.ws_b, sid, token(f"e{n}")) for n in range(300)))
    await asyncio.sleep(1.2)  # everyone has now watched for over a second
    bag = await cluster.a.ok("POST", f"/api/sessions/{sid}/lucky-bags", HOST, {
        "title": "福袋", "winners": 10, "countdown_s": 10, "passphrase": "邻里好", "min_watch_s": 1,
        "prize_item_id": iid, "prize_points": 50})
    bid = bag["id"]
    await asyncio.gather(*(c.wait_for(lambda e: e["type"] == "lucky_bag_started") for c in clients))
    # Half enter by frame with the passphrase, half by commenting it.
    await asyncio.gather(*(
        c.send({"type": "enter_lucky_bag", "bag_id": bid, "passphrase": "邻里好"}) if n % 2
        else c.send({"type": "comment", "text": "邻里好"}) for n, c in enumerate(clients)))
    await asyncio.gather(*(c.wait_for(lambda e: e["type"] == "lucky_bag_entered") for c in clients))

    late = await Client.join(cluster.ws_a, sid, token("latecomer"))
    await late.send({"type": "enter_lucky_bag", "bag_id": bid, "passphrase": "邻里好"})
    refused = await late.wait_for(lambda e: e["type"] == "error")
    assert refused["code"] == "watch_longer"
    silent = clients[0]
    other = await Client.join(cluster.ws_b, sid, token("e0-phone2"))
    await asyncio.sleep(1.1)
    await other.send({"type": "enter_lucky_bag", "bag_id": bid})
    assert (await other.wait_for(lambda e: e["type"] == "error"))["code"] == "passphrase_required"
    host = await Client.join(cluster.ws_a, sid, HOST)
    await host.send({"type": "enter_lucky_bag", "bag_id": bid, "passphrase": "邻里好"})
    assert (await host.wait_for(lambda e: e["type"] == "error"))["code"] == "forbidden"

    results = await asyncio.gather(*(c.wait_for(lambda e: e["type"] == "lucky_bag_result", 30)
                                     for c in [*clients, late, other, host]))
    # The host hears the winners' ids; residents ten names and, the winners alone, won (docs/protocol.md).
    winners = results[-1]["winners"]
    assert len(winners) == 10 and len(set(winners)) == 10
    assert set(winners) <= {f"e{n}" for n in range(300)}
    assert all("winners" not in r and len(r["winner_names"]) == 10 for r in results[:-1])
    assert {f"e{n}" for n, r in enumerate(results[:300]) if r.get("won")} == set(winners)
    assert not late.of_type("lucky_bag_result")[0].get("won")
    assert all(len(c.of_type("lucky_bag_result")) == 1 for c in clients)
    status = await cluster.b.ok("GET", f"/api/sessions/{sid}/lucky-bags/{bid}", HOST)
    assert status["status"] == "drawn" and status["winners"] == winners and len(status["entrants"]) == 300
    # The audit: anyone can recompute the winners from the seed and the entrants (stream.fairness).
    import hashlib
    ranked = sorted(status["entrants"], key=lambda u: hashlib.sha256(f"{status['seed']}:{u}".encode()).hexdigest())
    assert ranked[:10] == winners
    assert hashlib.sha256(status["seed"].encode()).hexdigest() == status["seed_hash"] == bag["seed_hash"]
    # Winners got a zero-price order of the prize item.
    for _ in range(100):
        orders = (await cluster.a.ok("GET", f"/api/sessions/{sid}/orders", HOST))["orders"]
        if len(orders) == 10:
            break
        await asyncio.sleep(0.1)
    assert sorted(o["user_id"] for o in orders) == sorted(winners)
    assert all(o["price_cents"] == 0 and o["kind"] == "prize" for o in orders)
    # The SQL audit row and the winners' points, written once through the outbox.
    engine = create_engine(cluster.db_url)
    async with engine.connect() as conn:
        audit = (await conn.execute(sa.select(lucky_bag_draws).where(lucky_bag_draws.c.bag_id == bid))).one()
        points = (await conn.execute(sa.select(points_ledger.c.user_id, points_ledger.c.points)
                                     .where(points_ledger.c.id.like(f"bag:{bid}:%")))).all()
    await engine.dispose()
    assert json.loads(audit.winners) == winners and audit.seed == status["seed"]
    assert len(json.loads(audit.entrants)) == 300
    assert sorted(points) == sorted((w, 50) for w in winners)
    await asyncio.gather(*(c.close() for c in [*clients, late, other, host, silent]))


async def test_viewer_counts_add_up_across_processes(cluster: Cluster) -> None:
    """One viewer on each process: both hear a total of 2."""
    sid, _ = await cluster.session([ITEM])
    a = await Client.join(cluster.ws_a, sid, token("va"))
    b = await Client.join(cluster.ws_b, sid, token("vb"))
    await a.wait_for(lambda e: e["type"] == "viewers" and e["count"] == 2, 6)
    await b.wait_for(lambda e: e["type"] == "viewers" and e["count"] == 2, 6)
    await b.close()
    await a.wait_for(lambda e: e["type"] == "viewers" and e["count"] == 1, 6)
    await a.close()


async def test_roles_and_communities_are_enforced(cluster: Cluster) -> None:
    """Residents cannot call host endpoints; another community's token cannot join; bad tokens are 401."""
    sid, (iid,) = await cluster.session([ITEM])
    resident = token("r1")
    for method, path, body in [
        ("POST", "/api/sessions", {"title": "x", "community_id": "c1"}),
        ("POST", f"/api/sessions/{sid}/items", ITEM),
        ("POST", f"/api/sessions/{sid}/live", None),
        ("POST", f"/api/sessions/{sid}/items/{iid}/flash", {"duration_s": 5}),
        ("POST", f"/api/sessions/{sid}/lucky-bags", {"title": "x", "winners": 1, "countdown_s": 5, "prize_points": 1}),
        ("POST", f"/api/sessions/{sid}/end", None),
        ("POST", "/api/communities", {"id": "c9", "name": "x"}),
    ]:
        status, body_out = await cluster.a.call(method, path, resident, body)
        assert status == 403 and body_out["error"]["code"] == "forbidden", (path, status, body_out)
    other_host = token("h2", "host", "c2")
    status, _ = await cluster.a.call("POST", f"/api/sessions/{sid}/items/{iid}/pin", other_host)
    assert status == 403
    with pytest.raises(InvalidStatus) as refused:
        await Client.join(cluster.ws_a, sid, token("stranger", community="c2"))
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as bad:
        await Client.join(cluster.ws_a, sid, "not-a-token")
    assert bad.value.response.status_code == 401
    status, body_out = await cluster.a.call("GET", f"/api/sessions/{sid}", "garbage.token.here")
    assert status == 401 and body_out["error"]["code"] == "unauthorized"
    status, _ = await cluster.a.call("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "again"})
    assert status == 409


async def test_bad_frames_get_errors_and_the_connection_stays(cluster: Cluster) -> None:
    """Undecodable or invalid frames each get one error frame; the socket stays open."""
    sid, (iid,) = await cluster.session([ITEM])
    c = await Client.join(cluster.ws_a, sid, token("messy"))
    await c.send("this is not json")
    await c.send({"type": "teleport"})
    await c.send({"type": "grab", "item_id": iid, "qty": 0, "request_id": "q0"})
    await c.send({"type": "grab", "item_id": "nope", "qty": 1, "request_id": "q1"})
    await c.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "r" * 65})
    await c.send({"type": "comment", "text": "长" * 201})
    await c.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "ok1"})
    await c.wait_for(lambda e: e["type"] == "grab_result")
    codes = [e["code"] for e in c.of_type("error")]
    assert codes == ["bad_frame", "bad_frame", "bad_request", "unknown_item", "bad_request", "bad_comment"]
    assert c.of_type("grab_result")[0]["reason"] == "not_on_sale"
    await c.send({"type": "comment", "text": "还在吗"})
    await c.wait_for(lambda e: e["type"] == "comment" and e["text"] == "还在吗")
    await c.close()


async def test_a_flooding_client_is_disconnected(cluster: Cluster) -> None:
    """A client that keeps sending far past its rate is closed with 1008."""
    sid, _ = await cluster.session([ITEM])
    c = await Client.join(cluster.ws_a, sid, token("flooder"))
    for n in range(200):
        await c.send({"type": "comment", "text": f"刷屏{n}"})
    await asyncio.wait_for(c.closed.wait(), 10)
    assert c.close_code == 1008
    assert any(e["code"] == "rate_limited" for e in c.of_type("error"))


async def test_flash_ends_by_itself_and_session_end_closes_sales(cluster: Cluster) -> None:
    """A flash sale closes at its deadline (flash_ended once); ending the session stops every sale."""
    sid, (i1, i2) = await cluster.session([ITEM, {**ITEM, "title": "小米"}])
    c = await Client.join(cluster.ws_b, sid, token("watch"))
    await cluster.a.ok("POST", f"/api/sessions/{sid}/items/{i1}/flash", HOST, {"duration_s": 1})
    await c.wait_for(lambda e: e["type"] == "flash_ended" and e["item_id"] == i1, 5)
    await c.send({"type": "grab", "item_id": i1, "qty": 1, "request_id": "late"})
    assert (await c.wait_for(lambda e: e["type"] == "grab_result"))["reason"] == "not_on_sale"
    await cluster.a.ok("POST", f"/api/sessions/{sid}/items/{i2}/flash", HOST, {"duration_s": 600, "price_cents": 199})
    await cluster.a.ok("POST", f"/api/sessions/{sid}/end", HOST)
    await c.wait_for(lambda e: e["type"] == "session_ended")
    assert [e["item_id"] for e in c.of_type("flash_ended")] == [i1, i2]
    status, body = await cluster.a.call("POST", f"/api/sessions/{sid}/items/{i1}/flash", HOST, {"duration_s": 5})
    assert status == 409 and body["error"]["code"] == "wrong_state"
    await c.close()


async def test_red_packet_shares_go_to_the_first_residents(cluster: Cluster) -> None:
    """A 100-point packet in 5 shares: five residents get 1+ points each summing to 100; the sixth gets none."""
    sid, _ = await cluster.session([ITEM])
    clients = [await Client.join(cluster.ws_a, sid, token(f"p{n}")) for n in range(6)]
    packet = await cluster.a.ok("POST", f"/api/sessions/{sid}/red-packets", HOST, {"total_points": 100, "shares": 5})
    for c in clients:
        await c.wait_for(lambda e: e["type"] == "red_packet_started")
        await c.send({"type": "grab_red_packet", "packet_id": packet["id"]})
        await c.wait_for(lambda e: e["type"] == "red_packet_result")
    got = [c.of_type("red_packet_result")[0] for c in clients]
    assert [g["ok"] for g in got] == [True] * 5 + [False] and got[5]["reason"] == "empty"
    assert sum(g["points"] for g in got) == 100 and all(g["points"] >= 1 for g in got[:5])
    for c in clients:
        await c.close()


async def test_reconnect_resyncs_from_snapshot(cluster: Cluster) -> None:
    """A resident who reconnects gets a fresh snapshot with current stock and her own orders."""
    sid, (iid,) = await cluster.session([ITEM])
    await cluster.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 60})
    c = await Client.join(cluster.ws_a, sid, token("mum"))
    await c.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": str(uuid.uuid4())})
    order = await c.wait_for(lambda e: e["type"] == "grab_result")
    await c.close()
    again = await Client.join(cluster.ws_b, sid, token("mum"))
    snap = again.of_type("snapshot")[0]
    assert snap["items"][0]["left"] == 49 and snap["items"][0]["on_sale"] is True
    assert [o["id"] for o in snap["orders"]] == [order["order_id"]]
    assert snap["seq"] >= max(e["seq"] for e in c.events if "seq" in e)
    await again.close()
