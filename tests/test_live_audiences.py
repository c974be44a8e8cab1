"""What each role is shown of other people in a live room, with real websocket clients on two web
processes: staff see user ids, residents, grid workers and pickup points masked names, suppliers nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from websockets.exceptions import InvalidStatus

from tests.live import SECRET, Api, Client, neighbours, token
from tests.servers import ServerProcess, linli_env, shared_stores, start_linli

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
ITEM = {"title": "红薯", "price_cents": 350, "stock": 50, "per_user_limit": 1, "unit": "斤"}
STAFF = {"host": HOST, "admin": token("adm1", "admin", "c1"), "operator": OPERATOR}
PUBLIC = {"wang": token("wang"), "li": token("li"), "grid": token("grid1", "grid"), "pickup": token("pick1", "pickup")}
SUPPLIERS = (token("farm1", "supplier", "c1"), token("farm1", "supplier", None))


class Room:
    def __init__(self, a: ServerProcess, b: ServerProcess, http: aiohttp.ClientSession) -> None:
        self.a, self.b = Api(http, a.url), Api(http, b.url)
        self.ws = [a.url.replace("http", "ws"), b.url.replace("http", "ws")]

    async def session(self) -> str:
        s = await self.a.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"})
        await self.a.ok("POST", f"/api/sessions/{s['id']}/items", HOST, ITEM)
        await self.a.ok("POST", f"/api/sessions/{s['id']}/live", HOST)
        return str(s["id"])

    async def join_all(self, sid: str) -> dict[str, Client]:
        """Every role that may watch, spread over both web processes."""
        people = {**STAFF, **PUBLIC}
        clients = await asyncio.gather(*(Client.join(self.ws[n % 2], sid, tok)
                                         for n, tok in enumerate(people.values())))
        return dict(zip(people, clients, strict=True))


@pytest.fixture(scope="module")
async def room(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Room]:
    tmp = tmp_path_factory.mktemp("audiences")
    async with shared_stores(tmp) as (redis_url, db_url):
        env = linli_env(tmp, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET)
        procs: list[ServerProcess] = []
        http = aiohttp.ClientSession()
        try:
            procs += [await start_linli(["web"], env, tmp / "a.log"), await start_linli(["web"], env, tmp / "b.log")]
            api = Api(http, procs[0].url)
            await neighbours(api, HOST)
            yield Room(procs[0], procs[1], http)
        finally:
            await http.close()
            for p in procs:
                p.stop()


def _ids_in(client: Client, *ids: str) -> list[str]:
    """The ids among ``ids`` that appear as a JSON string anywhere in what the client received, but her own
    snapshot's ``me``."""
    seen = json.dumps([{k: v for k, v in e.items() if not (e["type"] == "snapshot" and k == "me")}
                       for e in client.events], ensure_ascii=False)
    return [i for i in ids if f'"{i}"' in seen]


async def test_a_comment_names_its_author_by_id_to_staff_and_by_masked_name_to_everyone_else(room: Room) -> None:
    """wang comments: host, admin and operator get user_id wang; residents, grid and pickup get 王*香 only;
    a host's comment reaches residents as the host's role."""
    sid = await room.session()
    clients = await room.join_all(sid)
    await clients["wang"].send({"type": "comment", "text": "红薯很甜"})
    await clients["host"].send({"type": "comment", "text": "欢迎大家"})
    for who, c in clients.items():
        said = await c.wait_for(lambda e: e["type"] == "comment" and e["text"] == "红薯很甜")
        welcome = await c.wait_for(lambda e: e["type"] == "comment" and e["text"] == "欢迎大家")
        if who in STAFF:
            assert (said["user_id"], said["name"], said["role"]) == ("wang", "王*香", "resident"), who
            assert (welcome["user_id"], welcome["role"]) == ("host1", "host")
        else:
            assert "user_id" not in said and (said["name"], said["role"]) == ("王*香", "resident"), who
            assert "user_id" not in welcome and welcome["role"] == "host" and "name" not in welcome
    assert _ids_in(clients["li"], "wang", "host1") == []
    assert _ids_in(clients["grid"], "wang", "host1") == []
    assert _ids_in(clients["host"], "wang", "host1") == ["wang", "host1"]
    await asyncio.gather(*(c.close() for c in clients.values()))


async def test_a_lucky_bag_result_gives_ids_to_staff_masked_names_to_others_and_won_to_the_winner(room: Room) -> None:
    """Two residents enter, one wins: staff hear the winner's id; everyone else 1 masked name and no id; only
    the winner's copy says won. The bag and a red packet read over HTTP follow the same rule."""
    sid = await room.session()
    clients = await room.join_all(sid)
    bag = await room.a.ok("POST", f"/api/sessions/{sid}/lucky-bags", HOST,
                          {"title": "福袋", "winners": 1, "countdown_s": 2, "prize_points": 5})
    for who in ("wang", "li"):
        await clients[who].wait_for(lambda e: e["type"] == "lucky_bag_started")
        await clients[who].send({"type": "enter_lucky_bag", "bag_id": bag["id"]})
        await clients[who].wait_for(lambda e: e["type"] == "lucky_bag_entered")
    results = {who: await c.wait_for(lambda e: e["type"] == "lucky_bag_result", 15) for who, c in clients.items()}
    (winner,) = results["host"]["winners"]
    loser = "li" if winner == "wang" else "wang"
    masked = {"wang": "王*香", "li": "李*国"}[winner]
    for who, result in results.items():
        assert result["entrants"] == 2
        if who in STAFF:
            assert result["winners"] == [winner] and "won" not in result, who
        else:
            assert "winners" not in result and result["winner_names"] == [masked], who
            assert result.get("won", False) == (who == winner), who
    for who in ("grid", "pickup", loser):
        assert _ids_in(clients[who], "wang", "li") == [], who

    path = f"/api/sessions/{sid}/lucky-bags/{bag['id']}"
    for tok in STAFF.values():
        full = await room.b.ok("GET", path, tok)
        assert sorted(full["entrants"]) == ["li", "wang"] and full["winners"] == [winner] and full["seed"]
    for who, tok in PUBLIC.items():
        status, body = await room.b.call("GET", path, tok)
        assert status == 200 and "entrants" not in body and "winners" not in body, who
        assert (body["entrant_count"], body["winner_names"]) == (2, [masked])
        assert (body["entered"], body["won"]) == (who in ("wang", "li"), who == winner), who
        assert '"wang"' not in json.dumps(body) and '"li"' not in json.dumps(body)

    packet = await room.a.ok("POST", f"/api/sessions/{sid}/red-packets", HOST, {"total_points": 10, "shares": 3})
    await clients["wang"].wait_for(lambda e: e["type"] == "red_packet_started")
    await clients["wang"].send({"type": "grab_red_packet", "packet_id": packet["id"]})
    took = await clients["wang"].wait_for(lambda e: e["type"] == "red_packet_result")
    ppath = f"/api/sessions/{sid}/red-packets/{packet['id']}"
    assert (await room.b.ok("GET", ppath, HOST))["takers"] == {"wang": took["points"]}
    mine = await room.b.ok("GET", ppath, PUBLIC["wang"])
    assert (mine["taken"], mine["mine"], mine["left"]) == (1, took["points"], 2) and "takers" not in mine
    theirs = await room.b.ok("GET", ppath, PUBLIC["li"])
    assert (theirs["taken"], theirs["mine"]) == (1, 0) and '"wang"' not in json.dumps(theirs)
    await asyncio.gather(*(c.close() for c in clients.values()))


async def test_a_supplier_neither_joins_the_room_nor_reads_it(room: Room) -> None:
    """A supplier token, with the community or without, is 403 at the websocket and on every room read."""
    sid = await room.session()
    bag = await room.a.ok("POST", f"/api/sessions/{sid}/lucky-bags", HOST,
                          {"title": "福袋", "winners": 1, "countdown_s": 600, "prize_points": 5})
    packet = await room.a.ok("POST", f"/api/sessions/{sid}/red-packets", HOST, {"total_points": 10, "shares": 3})
    for tok in SUPPLIERS:
        with pytest.raises(InvalidStatus) as refused:
            await Client.join(room.ws[0], sid, tok)
        assert refused.value.response.status_code == 403
        for path in (f"/api/sessions/{sid}", f"/api/sessions/{sid}/lucky-bags/{bag['id']}",
                     f"/api/sessions/{sid}/red-packets/{packet['id']}", f"/api/sessions/{sid}/orders"):
            status, body = await room.b.call("GET", path, tok)
            assert (status, body["error"]["code"]) == (403, "forbidden"), path


async def test_every_other_event_is_the_same_bytes_for_every_role(room: Room) -> None:
    """Stock, pins, flash sales and counts name nobody: every role hears them alike."""
    sid = await room.session()
    clients = await room.join_all(sid)
    iid = clients["host"].of_type("snapshot")[0]["items"][0]["id"]
    await room.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/pin", HOST)
    await room.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 30})
    await clients["wang"].wait_for(lambda e: e["type"] == "flash_started")
    await clients["wang"].send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "g1"})
    for c in clients.values():
        await c.wait_for(lambda e: e["type"] == "stock" and e["left"] == 49)

    def shared(c: Client) -> list[dict[str, Any]]:
        return [e for e in c.events if e["type"] in ("item_pinned", "flash_started", "stock")]

    first = shared(clients["host"])
    assert all(shared(c) == first for c in clients.values())
    await asyncio.gather(*(c.close() for c in clients.values()))
