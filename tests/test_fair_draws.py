"""Lucky-bag draws over real websockets against real web processes and a worker: the options (prefer
residents who have not won lately, a monthly cap, undrawn prizes back in stock) and the seed
commitment, checked with the same function `linli verify-draw` uses."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from infra.db import create_engine
from infra.tables import lucky_bag_draws
from stream import fairness
from stream.api import load_audit
from tests.live import SECRET, Api, Client, token
from tests.servers import ServerProcess, linli_env, shared_stores, spawn_linli, start_linli

pytestmark = pytest.mark.timeout(180)

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)
FOLK = ["ann", "bo", "cai", "dan", "eva"]


class Room:
    def __init__(self, a: ServerProcess, b: ServerProcess, http: aiohttp.ClientSession, db_url: str,
                 env: dict[str, str]) -> None:
        self.a, self.b = Api(http, a.url), Api(http, b.url)
        self.ws = [a.url.replace("http", "ws"), b.url.replace("http", "ws")]
        self.db_url, self.env = db_url, env

    async def session(self, stock: int = 10) -> tuple[str, str]:
        s = await self.a.ok("POST", "/api/sessions", HOST, {"title": "周六直播", "community_id": "c1"})
        item = await self.a.ok("POST", f"/api/sessions/{s['id']}/items", HOST,
                               {"title": "海鸭蛋", "price_cents": 2800, "stock": stock, "unit": "盒"})
        await self.a.ok("POST", f"/api/sessions/{s['id']}/live", HOST)
        return s["id"], item["id"]

    async def draw(self, sid: str, clients: dict[str, Client], host: Client, **bag: Any) -> dict[str, Any]:
        """Open a bag, let every client enter, and return the host's lucky_bag_result."""
        opened = await self.a.ok("POST", f"/api/sessions/{sid}/lucky-bags", HOST,
                                 {"title": "福袋", "countdown_s": 2, **bag})
        for c in clients.values():
            await c.wait_for(lambda e: e["type"] == "lucky_bag_started" and e["bag"]["id"] == opened["id"])
            await c.send({"type": "enter_lucky_bag", "bag_id": opened["id"]})
            await c.wait_for(lambda e: e["type"] == "lucky_bag_entered" and e["bag_id"] == opened["id"])
        result = await host.wait_for(lambda e: e["type"] == "lucky_bag_result" and e["bag_id"] == opened["id"], 15)
        return {"opened": opened, "result": result}

    async def recorded(self, bid: str) -> None:
        """Wait until the worker has written the bag's audit row."""
        engine = create_engine(self.db_url)
        try:
            for _ in range(150):
                async with engine.connect() as conn:
                    if (await conn.execute(sa.select(lucky_bag_draws.c.bag_id)
                                           .where(lucky_bag_draws.c.bag_id == bid))).first():
                        return
                await asyncio.sleep(0.1)
        finally:
            await engine.dispose()
        raise AssertionError(f"the draw of {bid} was never recorded")


@pytest.fixture(scope="module")
async def room(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Room]:
    tmp = tmp_path_factory.mktemp("draws")
    async with shared_stores(tmp) as (redis_url, db_url):
        env = linli_env(tmp, REDIS_URL=redis_url, DATABASE_URL=db_url, LINLI_SECRET=SECRET)
        procs = [spawn_linli(["worker"], env, tmp / "worker.log")]
        http = aiohttp.ClientSession()
        try:
            procs += [await start_linli(["web"], env, tmp / "a.log"), await start_linli(["web"], env, tmp / "b.log")]
            api = Api(http, procs[1].url)
            await api.call("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
            await api.call("POST", "/api/communities", OPERATOR, {"id": "c2", "name": "望江苑"})
            for n, who in enumerate(FOLK):
                await api.call("POST", "/api/communities/c1/residents", HOST, {"id": who, "name": f"王{n}香"})
            yield Room(procs[1], procs[2], http, db_url, env)
        finally:
            await http.close()
            for p in procs:
                p.stop()


async def _join(room: Room, sid: str, users: list[str]) -> tuple[dict[str, Client], Client]:
    clients = {u: await Client.join(room.ws[n % 2], sid, token(u)) for n, u in enumerate(users)}
    return clients, await Client.join(room.ws[0], sid, HOST)


async def _close(*clients: Client) -> None:
    await asyncio.gather(*(c.close() for c in clients))


async def test_preference_cap_and_undrawn_prizes_back_in_stock(room: Room) -> None:
    """A recent winner is drawn after everyone else; residents at the monthly cap cannot win, so with fewer
    eligible entrants than prizes the rest are undrawn and stay in stock, within a session and across one."""
    sid, iid = await room.session(stock=10)
    clients, host = await _join(room, sid, FOLK)
    first = (await room.draw(sid, clients, host, winners=1, prize_points=5))["result"]
    (w1,) = first["winners"]

    # Prefer new winners: w1 is drawn last, so four prizes go to the other four whatever the seed.
    second = (await room.draw(sid, clients, host, winners=4, prize_points=5, prefer_new_days=7))["result"]
    assert sorted(second["winners"]) == sorted(set(FOLK) - {w1}) and second["undrawn"] == 0
    status = await room.b.ok("GET", f"/api/sessions/{sid}/lucky-bags/{second['bag_id']}", HOST)
    assert status["recent"] == [w1] and status["prefer_new_days"] == 7
    assert second["winners"] == fairness.winners_by(second["seed"], FOLK, 4, recent=[w1])

    # Without the preference the recent winner may win again: only the seed decides.
    third = (await room.draw(sid, clients, host, winners=2, prize_points=5))["result"]
    assert third["winners"] == fairness.winners_by(third["seed"], FOLK, 2)

    # A cap of 1 win in 30 days: every entrant has won by now, so nobody is eligible.
    capped = await room.draw(sid, clients, host, winners=3, prize_item_id=iid, monthly_cap=1)
    result = capped["result"]
    assert result["winners"] == [] and result["undrawn"] == 3 and result["prizes"] == 3
    # The prize units never left stock: all 10 still on sale.
    snap = await room.a.ok("GET", f"/api/sessions/{sid}", HOST)
    assert snap["items"][0]["left"] == 10

    # A fresh neighbour beside them, a cap of 2: everyone below it wins, the prizes left over stay in stock.
    fresh = await Client.join(room.ws[1], sid, token("fay"))
    clients["fay"] = fresh
    wins = {u: sum(u in r["winners"] for r in (first, second, third)) for u in FOLK}
    eligible = sorted({u for u, n in wins.items() if n < 2} | {"fay"})
    two = (await room.draw(sid, clients, host, winners=6, prize_item_id=iid, monthly_cap=2))["result"]
    assert sorted(two["winners"]) == eligible and two["undrawn"] == 6 - len(eligible)
    for _ in range(100):
        left = (await room.a.ok("GET", f"/api/sessions/{sid}", HOST))["items"][0]["left"]
        if left == 10 - len(eligible):
            break
        await asyncio.sleep(0.1)
    assert left == 10 - len(eligible)
    await _close(*clients.values(), host)

    # Across sessions: the cap reads past winners from SQL (once the worker has recorded them).
    for r in (first, second, third):
        await room.recorded(r["bag_id"])
    sid2, _ = await room.session()
    clients2, host2 = await _join(room, sid2, [w1, "gus"])
    other = (await room.draw(sid2, clients2, host2, winners=2, prize_points=1, monthly_cap=wins[w1]))["result"]
    assert other["winners"] == ["gus"] and other["undrawn"] == 1
    await room.recorded(other["bag_id"])
    engine = create_engine(room.db_url)
    try:
        audit = await load_audit(engine, other["bag_id"])
    finally:
        await engine.dispose()
    assert audit.options is not None and audit.options.capped == [w1] and audit.options.monthly_cap == wins[w1]
    assert audit.verdict().ok
    await _close(*clients2.values(), host2)


async def test_the_published_hash_binds_the_seed_and_anyone_recomputes_the_winners(room: Room) -> None:
    """The hash published at opening is SHA-256 of the seed revealed at the draw; verify-draw's function, the
    CLI and the public audit all recompute the drawn winners; a tampered audit row fails the check."""
    sid, _ = await room.session()
    clients, host = await _join(room, sid, FOLK)
    drawn = await room.draw(sid, clients, host, winners=2, prize_points=3)
    opened, result = drawn["opened"], drawn["result"]
    started = clients["ann"].of_type("lucky_bag_started")[-1]["bag"]
    assert started["seed_hash"] == opened["seed_hash"] == result["seed_hash"]
    assert hashlib.sha256(result["seed"].encode()).hexdigest() == opened["seed_hash"]
    assert result["rule"] == fairness.RULE
    # Residents hear the revealed seed too (names, not ids, for the winners).
    mine = await clients["bo"].wait_for(lambda e: e["type"] == "lucky_bag_result" and e["bag_id"] == opened["id"])
    assert mine["seed"] == result["seed"] and "winners" not in mine
    await room.recorded(opened["id"])

    engine = create_engine(room.db_url)
    try:
        audit = await load_audit(engine, opened["id"])
        verdict = audit.verdict()
        assert verdict.ok and verdict.recomputed == result["winners"] == audit.winners
        assert sorted(audit.entrants) == sorted(FOLK) and audit.seed_hash == opened["seed_hash"]

        cli = [sys.executable, "-m", "linli", "verify-draw", opened["id"]]
        ok = await asyncio.to_thread(subprocess.run, cli, env=room.env, capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "matches the published hash: yes" in ok.stdout and "match the recorded ones: yes" in ok.stdout

        # The public audit: staff see ids, a resident keys and her own entry, never an id.
        staff = await room.b.ok("GET", f"/api/lucky-bag-draws/{opened['id']}", HOST)
        assert staff["seed_matches"] and staff["winners_match"]
        assert {e["user_id"] for e in staff["entrants"]} == set(FOLK)
        keys = {e["user_id"]: e["key"] for e in staff["entrants"]}
        assert staff["winners"] == [keys[w] for w in result["winners"]]
        assert keys["ann"] == hashlib.sha256(f"{result['seed']}:ann".encode()).hexdigest()
        public = await room.b.ok("GET", f"/api/lucky-bag-draws/{opened['id']}", token("ann"))
        assert "user_id" not in json.dumps(public) and '"ann"' not in json.dumps(public)
        assert [e["key"] for e in public["entrants"] if e.get("me")] == [keys["ann"]]
        assert [e["key"] for e in public["entrants"]] == sorted(keys.values())
        for tok, code in ((token("farm1", "supplier", "c1"), (403, "not_for_role")),
                          (token("x", community="c2"), (403, "forbidden")), (HOST, (404, "unknown_bag"))):
            status, body = await room.a.call("GET", f"/api/lucky-bag-draws/{opened['id'] if tok != HOST else 'bnone'}",
                                             tok)
            assert (status, body["error"]["code"]) == code

        # Swap a loser in for a winner in the record: both the function and the CLI say no.
        loser = next(u for u in FOLK if u not in result["winners"])
        forged = [loser, *result["winners"][1:]]
        async with engine.begin() as conn:
            await conn.execute(lucky_bag_draws.update().where(lucky_bag_draws.c.bag_id == opened["id"])
                               .values(winners=json.dumps(forged)))
        assert not (await load_audit(engine, opened["id"])).verdict().winners_match
        bad = await asyncio.to_thread(subprocess.run, cli, env=room.env, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "match the recorded ones: NO" in bad.stdout
    finally:
        await engine.dispose()
    await _close(*clients.values(), host)


async def test_one_draw_even_when_both_processes_sweep(room: Room) -> None:
    """Two web processes sweep the same deadline: every viewer on either hears one result, the same."""
    sid, _ = await room.session()
    clients, host = await _join(room, sid, FOLK)
    result = (await room.draw(sid, clients, host, winners=2, prize_points=1, prefer_new_days=1))["result"]
    await asyncio.sleep(0.5)
    for c in [*clients.values(), host]:
        got = [e for e in c.of_type("lucky_bag_result") if e["bag_id"] == result["bag_id"]]
        assert len(got) == 1 and got[0]["seed"] == result["seed"]
    await _close(*clients.values(), host)


def test_the_rule_is_documented_and_stable() -> None:
    """The rule: eligible entrants ordered by (recent last, SHA-256(seed:id), id); the legacy rule by SHA-1."""
    seed = "00" * 32
    users = [f"u{n}" for n in range(20)]
    by_key = sorted(users, key=lambda u: hashlib.sha256(f"{seed}:{u}".encode()).hexdigest())
    assert fairness.winners_by(seed, users, 3) == by_key[:3]
    assert fairness.winners_by(seed, users, 3, recent=by_key[:1]) == by_key[1:4]
    assert fairness.winners_by(seed, users, 3, capped=by_key[:2]) == by_key[2:5]
    assert fairness.winners_by(seed, users, 30, capped=users[:15]) == [u for u in by_key if u not in users[:15]]
    legacy = sorted(users, key=lambda u: hashlib.sha1(f"{seed}:{u}".encode()).hexdigest())[:4]
    assert fairness.verify("b1", seed, None, users, legacy, None, None).ok
    assert not fairness.verify("b1", seed, "0" * 64, users, by_key[:3],
                               fairness.DrawOptions(prizes=3), fairness.RULE).seed_matches


async def test_bad_draw_options_are_refused_and_open_nothing(room: Room) -> None:
    """Options out of range or of the wrong type are a 400 with a code, and no bag opens; a malformed bag id
    on the audit is a 404 (a NUL in the URL a 400)."""
    sid, _ = await room.session()
    for bad in ({"prefer_new_days": -1}, {"prefer_new_days": 366}, {"monthly_cap": 101}, {"monthly_cap": "2"},
                {"prefer_new_days": 1.5}, {"monthly_cap": None}):
        status, body = await room.a.call("POST", f"/api/sessions/{sid}/lucky-bags", HOST,
                                         {"title": "福袋", "winners": 1, "countdown_s": 60, "prize_points": 1, **bad})
        assert status == 400 and body["error"]["code"], (bad, status, body)
    snapshot = await Client.join(room.ws[0], sid, HOST)
    assert snapshot.events[0]["lucky_bags"] == []
    await snapshot.close()
    for bid, answer in (("b:x", 404), ("x" * 80, 404), ("b%00", 400)):
        status, body = await room.a.call("GET", f"/api/lucky-bag-draws/{bid}", HOST)
        assert status == answer and body["error"]["code"] in ("unknown_bag", "bad_request"), bid
