"""Resume, not resync, and clear answers for the wrong person, over real websockets against two real
web processes sharing one Redis: a viewer back after a gap gets exactly the events she missed, in
order, then live ones, with no gap and no duplicate (a snapshot only when the history no longer
covers the gap); a supplier, an expired token, an unknown or ended session each get their own answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from infra.auth import issue_token
from stream import keys
from tests.live import SECRET, Api, Client, bearer, neighbours, token
from tests.servers import linli_env, shared_stores, start_linli

pytestmark = pytest.mark.timeout(120)

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)
SUPPLIER = token("farm1", "supplier", "c1")
ITEM = {"title": "红薯", "price_cents": 350, "stock": 50, "per_user_limit": 5, "unit": "斤"}


class Room:
    def __init__(self, urls: list[str], http: aiohttp.ClientSession, redis: aioredis.Redis) -> None:
        self.a, self.b = Api(http, urls[0]), Api(http, urls[1])
        self.ws = [u.replace("http", "ws") for u in urls]
        self.redis = redis

    async def session(self, live: bool = True) -> tuple[str, str]:
        s = await self.a.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"})
        iid = (await self.a.ok("POST", f"/api/sessions/{s['id']}/items", HOST, ITEM))["id"]
        if live:
            await self.a.ok("POST", f"/api/sessions/{s['id']}/live", HOST)
        return s["id"], iid


@pytest.fixture(scope="module")
async def room(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Room]:
    tmp = tmp_path_factory.mktemp("resume")
    async with shared_stores(tmp) as (redis_url, db_url):
        env = linli_env(tmp, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET)
        http = aiohttp.ClientSession()
        redis = aioredis.from_url(redis_url)
        procs = []
        try:
            procs = [await start_linli(["web"], env, tmp / "a.log"), await start_linli(["web"], env, tmp / "b.log")]
            api = Api(http, procs[0].url)
            await neighbours(api, HOST)
            await api.call("POST", "/api/communities", OPERATOR, {"id": "c2", "name": "望江苑"})
            yield Room([p.url for p in procs], http, redis)
        finally:
            await redis.aclose()
            await http.close()
            for p in procs:
                p.stop()


async def _rejoin(ws_base: str, sid: str, tok: str, since: int | str) -> Client:
    """Join with ?since= and record every frame from the first (which is resumed or a snapshot)."""
    ws = await connect(f"{ws_base}/ws/sessions/{sid}?since={since}", additional_headers=bearer(tok), max_size=2**20,
                       open_timeout=20)
    client = Client(ws)
    client.reader = asyncio.create_task(client._read())
    await client.wait_for(lambda e: e["type"] in ("resumed", "snapshot"))
    return client


def _seqs(client: Client) -> list[int]:
    return [e["seq"] for e in client.events if "seq" in e and e["type"] != "snapshot"]


async def test_a_viewer_back_after_a_gap_gets_exactly_what_she_missed(room: Room) -> None:
    """Resident wang drops; meanwhile a pin, comments, an item and a flash go out. Back (on the other process)
    with her last seq, she gets resumed, exactly those events in order (comments without ids), then live ones:
    every seq once, none missing."""
    sid, iid = await room.session()
    wang = await Client.join(room.ws[0], sid, token("wang"))
    li = await Client.join(room.ws[1], sid, token("li"))
    await li.send({"type": "comment", "text": "大家好"})
    await wang.wait_for(lambda e: e["type"] == "comment" and e["text"] == "大家好")
    last = max(e["seq"] for e in wang.events if "seq" in e)
    await wang.close()

    await room.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/pin", HOST)
    for n in range(3):
        await asyncio.sleep(1.0)  # a resident may comment about once a second
        await li.send({"type": "comment", "text": f"还有吗{n}"})
        await li.wait_for(lambda e, n=n: e["type"] == "comment" and e["text"] == f"还有吗{n}")
    added = await room.a.ok("POST", f"/api/sessions/{sid}/items", HOST, {**ITEM, "title": "小米"})
    await room.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 60})
    await li.wait_for(lambda e: e["type"] == "flash_started")

    back = await _rejoin(room.ws[1], sid, token("wang"), last)
    first = back.events[0]
    assert first["type"] == "resumed" and first["after"] == last and first["status"] == "live"
    assert first["holds"] == [] and first["orders"] == []
    await back.wait_for(lambda e: e.get("seq", 0) >= last + first["missed"])
    replayed = back.events[1:1 + first["missed"]]
    assert [e["seq"] for e in replayed] == list(range(last + 1, last + first["missed"] + 1))
    kinds = [e["type"] for e in replayed if e["type"] not in ("viewers", "stock")]
    assert kinds == ["item_pinned", "comment", "comment", "comment", "item_added", "flash_started"]
    comments = [e for e in replayed if e["type"] == "comment"]
    assert [c["text"] for c in comments] == ["还有吗0", "还有吗1", "还有吗2"]
    assert all("user_id" not in c and c["name"] == "李*国" for c in comments)  # her edition: a masked name
    assert next(e for e in replayed if e["type"] == "item_added")["item"]["id"] == added["id"]
    assert not back.of_type("snapshot")

    # Live events follow with no gap and no duplicate.
    await asyncio.sleep(1.0)
    await li.send({"type": "comment", "text": "回来了"})
    await back.wait_for(lambda e: e["type"] == "comment" and e["text"] == "回来了")
    await back.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "after-resume"})
    assert (await back.wait_for(lambda e: e["type"] == "grab_result"))["ok"]
    await back.wait_for(lambda e: e["type"] == "stock" and e["item_id"] == iid and e["left"] == 49)
    seqs = _seqs(back)
    assert seqs == list(range(last + 1, last + 1 + len(seqs)))
    await asyncio.gather(back.close(), li.close())


async def test_a_gap_older_than_the_history_falls_back_to_a_snapshot(room: Room) -> None:
    """When the history was trimmed past her seq, or she names a seq the session never reached, the join
    answers with a snapshot as before; a since that is not a number is a 400 before the handshake."""
    sid, iid = await room.session()
    wang = await Client.join(room.ws[0], sid, token("wang"))
    await room.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/pin", HOST)
    await wang.wait_for(lambda e: e["type"] == "item_pinned")
    last = max(e["seq"] for e in wang.events if "seq" in e)
    await wang.close()
    for _ in range(4):
        await room.a.ok("POST", f"/api/sessions/{sid}/items/{iid}/pin", HOST)
    # The history keeps about HISTORY_LEN events; trim it as a long gap would have.
    await room.redis.xtrim(keys.history(sid), maxlen=2, approximate=False)
    old = await _rejoin(room.ws[0], sid, token("wang"), last)
    assert old.events[0]["type"] == "snapshot" and not old.of_type("resumed")
    assert old.events[0]["seq"] >= last + 4
    ahead = await _rejoin(room.ws[1], sid, token("wang"), old.events[0]["seq"] + 100)
    assert ahead.events[0]["type"] == "snapshot"
    # Up to date already: resumed with nothing missed.
    level = await _rejoin(room.ws[1], sid, token("wang"), old.events[0]["seq"])
    assert level.events[0]["type"] in ("resumed", "snapshot")  # a viewers event may have slipped in: both are right
    if level.events[0]["type"] == "resumed":
        assert level.events[0]["after"] == old.events[0]["seq"]
    for bad in ("abc", "-1", "1e3", "9" * 17):
        with pytest.raises(InvalidStatus) as refused:
            await _rejoin(room.ws[0], sid, token("wang"), bad)
        assert refused.value.response.status_code == 400
        assert json.loads(refused.value.response.body)["error"]["code"] == "bad_since"
    await asyncio.gather(old.close(), ahead.close(), level.close())


async def _refused(room: Room, sid: str, tok: str) -> tuple[int, str, int, str]:
    """(ticket status, code, websocket handshake status, code) for a caller."""
    status, body = await room.a.call("POST", "/api/ws-tickets", tok, {"session_id": sid})
    with pytest.raises(InvalidStatus) as refused:
        await Client.join(room.ws[1], sid, tok)
    response = refused.value.response
    return status, body["error"]["code"], response.status_code, json.loads(response.body)["error"]["code"]


async def test_each_wrong_person_gets_their_own_answer(room: Room) -> None:
    """A supplier (403 not_for_role), an expired token (401), another community (403 forbidden), an unknown
    session (404 unknown_session) and an ended one (410 session_ended): the same on the ticket and the handshake."""
    sid, _ = await room.session()
    assert await _refused(room, sid, SUPPLIER) == (403, "not_for_role", 403, "not_for_role")
    assert await _refused(room, sid, token("farm1", "supplier", None)) == (403, "not_for_role", 403, "not_for_role")
    # A supplier learns nothing of which sessions exist: the role is refused first.
    assert await _refused(room, "snosuch", SUPPLIER) == (403, "not_for_role", 403, "not_for_role")
    expiring = issue_token(SECRET, user_id="wang", role="resident", community_id="c1", ttl_s=1)
    await asyncio.sleep(max(0.0, 2.1 - (time.time() % 1)))
    assert (await _refused(room, sid, expiring))[::2] == (401, 401)
    assert await _refused(room, sid, token("x", community="c2")) == (403, "forbidden", 403, "forbidden")
    assert await _refused(room, "snosuch", token("wang")) == (404, "unknown_session", 404, "unknown_session")

    # A viewer inside when it ends hears session_ended; nobody joins afterwards.
    inside = await Client.join(room.ws[0], sid, token("wang"))
    await room.a.ok("POST", f"/api/sessions/{sid}/end", HOST)
    await inside.wait_for(lambda e: e["type"] == "session_ended")
    for tok in (token("wang"), HOST):
        assert await _refused(room, sid, tok) == (410, "session_ended", 410, "session_ended")
    await inside.close()


async def test_the_right_people_still_join(room: Room) -> None:
    """Residents, grid workers, pickup staff and the host of the community join a live or draft session."""
    sid, _ = await room.session(live=False)
    joined: list[Any] = []
    for tok in (token("wang"), token("g1", "grid"), token("p1", "pickup"), HOST):
        ticket = await room.a.ok("POST", "/api/ws-tickets", tok, {"session_id": sid})
        assert ticket["ticket"]
        joined.append(await Client.join(room.ws[0], sid, tok))
    assert all(c.events[0]["type"] == "snapshot" for c in joined)
    await asyncio.gather(*(c.close() for c in joined))
