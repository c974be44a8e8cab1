"""Limits per user and per address that hold across sockets and processes (kept in Redis)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from infra.auth import issue_token
from infra.db import migrate
from infra.ratelimit import LimitPolicy, RateLimited, RateLimits
from infra.redis_server import EmbeddedRedis
from infra.settings import normalize_database_url
from inventory import Inventory, OverRateLimit
from stream.errors import RateLimited as GrabRefused
from stream.limits import FrameLimiter, GrabLimits
from stream.scripts import Scripts
from tests.live import SECRET, Api, Client, bearer, token
from tests.servers import ServerProcess, linli_env, start_linli

HOST = token("host1", "host")
OPERATOR = token("root", "operator", None)
ITEM = {"title": "红薯", "price_cents": 350, "stock": 1000, "unit": "斤"}


class Pair:
    def __init__(self, a: ServerProcess, b: ServerProcess, http: aiohttp.ClientSession) -> None:
        self.a, self.b = Api(http, a.url), Api(http, b.url)
        self.ws_a, self.ws_b = a.url.replace("http", "ws"), b.url.replace("http", "ws")

    async def sale(self) -> tuple[str, str]:
        s = await self.a.ok("POST", "/api/sessions", HOST, {"title": "限流", "community_id": "c1"})
        item = await self.a.ok("POST", f"/api/sessions/{s['id']}/items", HOST, ITEM)
        await self.a.ok("POST", f"/api/sessions/{s['id']}/live", HOST)
        await self.a.ok("POST", f"/api/sessions/{s['id']}/items/{item['id']}/flash", HOST, {"duration_s": 600})
        return s["id"], item["id"]


@pytest.fixture(scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    """Two web processes on one Redis, with small per-user limits (minute windows, so a test's
    burst never straddles two of them) and the default cap of 5 sockets per user and session."""
    tmp = tmp_path_factory.mktemp("limits")
    server = EmbeddedRedis(tmp / "redis")
    url = await server.start()
    env = linli_env(tmp, REDIS_URL=url, DATABASE_URL=f"sqlite:///{tmp / 'limits.db'}", LINLI_SECRET=SECRET,
                    LINLI_LIMIT_GRAB_USER="12/minute", LINLI_LIMIT_COMMENT_USER="4/minute",
                    LINLI_LIMIT_TOKEN_FAILURE_USER="3/minute")
    http = aiohttp.ClientSession()
    procs: list[ServerProcess] = []
    try:
        await migrate(normalize_database_url(env["DATABASE_URL"]))
        procs = [await start_linli(["web"], env, tmp / "a.log"), await start_linli(["web"], env, tmp / "b.log")]
        status, _ = await Api(http, procs[0].url).call("POST", "/api/communities", OPERATOR,
                                                       {"id": "c1", "name": "幸福里"})
        assert status in (201, 409)
        yield Pair(procs[0], procs[1], http)
    finally:
        await http.close()
        for p in procs:
            p.stop()
        await server.stop()


async def _refused_join(ws_base: str, sid: str, tok: str) -> tuple[dict[str, object], int | None]:
    async with connect(f"{ws_base}/ws/sessions/{sid}", additional_headers=bearer(tok), open_timeout=20) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await asyncio.wait_for(ws.wait_closed(), 10)
        return frame, ws.protocol.close_code


async def test_a_user_opening_too_many_sockets_is_refused(pair: Pair) -> None:
    """Five sockets of one user across two processes get in; the sixth hears rate_limited and is
    closed (1008); once one closes, a new one gets in."""
    sid, _ = await pair.sale()
    tok = token("many")
    sockets = [await Client.join(pair.ws_a if n % 2 else pair.ws_b, sid, tok) for n in range(5)]
    frame, code = await _refused_join(pair.ws_a, sid, tok)
    assert frame["type"] == "error" and frame["code"] == "rate_limited" and code == 1008
    frame, code = await _refused_join(pair.ws_b, sid, tok)
    assert frame["code"] == "rate_limited"
    other = await Client.join(pair.ws_a, sid, token("someone-else"))  # others are not affected
    await sockets[0].close()
    for _ in range(100):  # the leave is counted when the server sees the close
        try:
            again = await Client.join(pair.ws_b, sid, tok)
            break
        except AssertionError:
            await asyncio.sleep(0.1)
    for c in [*sockets[1:], again, other]:
        await c.close()


async def test_a_flood_across_two_sockets_and_two_processes_is_limited(pair: Pair) -> None:
    """20 grabs and 6 comments at once from one user on a socket per process: 12 grabs and 4
    comments pass (the user's limits), the rest are rate_limited; another user's grabs all pass."""
    sid, iid = await pair.sale()
    tok = token("flooder")
    on_a, on_b = await Client.join(pair.ws_a, sid, tok), await Client.join(pair.ws_b, sid, tok)
    bystander = await Client.join(pair.ws_a, sid, token("bystander"))
    # Ten grabs per socket fit each socket's own burst, so only the per-user limit can refuse.
    await asyncio.gather(*(c.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": f"{n}-{i}"})
                           for n, c in enumerate((on_a, on_b)) for i in range(10)))
    await bystander.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "b0"})

    def answers(c: Client) -> list[dict[str, object]]:
        return [e for e in c.events if e["type"] == "grab_result" or (e["type"] == "error" and e.get("request_id"))]

    for _ in range(200):
        if len(answers(on_a)) == 10 and len(answers(on_b)) == 10 and bystander.of_type("grab_result"):
            break
        await asyncio.sleep(0.05)
    got = answers(on_a) + answers(on_b)
    ok = [e for e in got if e["type"] == "grab_result" and e["ok"]]
    limited = [e for e in got if e["type"] == "error" and e["code"] == "rate_limited"]
    # The sliding window can only be stricter when a burst straddles two minute windows.
    assert 10 <= len(ok) <= 12 and len(ok) + len(limited) == 20, got
    for n in range(1, 6):
        await bystander.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": f"b{n}"})
        await bystander.wait_for(lambda e, n=n: e["type"] == "grab_result" and e["request_id"] == f"b{n}")
    assert all(e["ok"] for e in bystander.of_type("grab_result")) and len(bystander.of_type("grab_result")) == 6

    # Comments: three per socket fit each socket's burst; the user may say four a minute.
    await asyncio.gather(*(c.send({"type": "comment", "text": f"刷{n}{i}"})
                           for n, c in enumerate((on_a, on_b)) for i in range(3)))
    await asyncio.sleep(1)
    heard = [e for e in bystander.of_type("comment") if e["text"].startswith("刷")]
    comment_limits = [e for c in (on_a, on_b) for e in c.of_type("error")
                      if e["code"] == "rate_limited" and "comment" in str(e["message"])]
    assert len(heard) == 4 and len(comment_limits) == 2
    for c in (on_a, on_b, bystander):
        await c.close()


async def test_token_failures_claiming_a_user_are_limited_without_locking_her_out(pair: Pair) -> None:
    """Forged tokens claiming one user: 401 three times, then 429 rate_limited; her own token still works."""
    forged = issue_token("another-secret-of-32-bytes-or-more-0123456789", user_id="victim", role="resident",
                         community_id="c1", ttl_s=600)
    codes = [(await pair.a.call("GET", "/api/me", forged))[0] for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    status, body = await pair.b.call("GET", "/api/me", forged)  # the count holds on the other process
    assert status == 429 and body["error"]["code"] == "rate_limited"
    status, body = await pair.a.call("GET", "/api/me", token("victim"))
    assert status == 200 and body["user_id"] == "victim"


async def test_token_failures_from_one_address_block_it(tmp_path: Path) -> None:
    """With loopback not exempt, five failed tokens from an address, then it is refused with 429
    and Retry-After before any token is read, even a valid one."""
    server = EmbeddedRedis(tmp_path / "redis")
    url = await server.start()
    env = linli_env(tmp_path, REDIS_URL=url, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", LINLI_SECRET=SECRET,
                    LINLI_LIMIT_EXEMPT="", LINLI_LIMIT_TOKEN_FAILURE_ADDRESS="5/minute")
    try:
        await migrate(normalize_database_url(env["DATABASE_URL"]))
        web = await start_linli(["web"], env, tmp_path / "web.log")
    except BaseException:
        await server.stop()
        raise
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(http, web.url)
            codes = [(await api.call("GET", "/api/me", f"not-a-token-{n}"))[0] for n in range(5)]
            assert codes == [401] * 5
            async with http.get(web.url + "/api/me", headers=bearer(token("good"))) as resp:
                assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
                assert (await resp.json())["error"]["code"] == "rate_limited"
            async with http.get(web.url + "/healthz") as resp:  # no token, nothing refused
                assert resp.status == 200
    finally:
        web.stop()
        await server.stop()


async def test_grab_limits_are_exact_under_concurrency(redis: aioredis.Redis) -> None:
    """limit_grabs.lua: 50 concurrent grabs of one user against 12 a minute: exactly 12 pass, the
    rest name the rule and a wait; another user and another session are counted apart."""
    grabs = GrabLimits(redis, Scripts().limit_grabs, LimitPolicy.build({"grab.user": "12/minute"}))

    async def one(sid: str, user: str) -> str | None:
        try:
            await grabs.hit(sid, user, "127.0.0.1")
        except RateLimited as exc:
            assert exc.retry_after_s >= 1
            return exc.rule
        return None

    outcomes = await asyncio.gather(*(one("s1", "u1") for _ in range(50)), *(one("s1", "u2") for _ in range(5)),
                                    *(one("s2", "u1") for _ in range(5)))
    assert outcomes[:50].count(None) == 12 and set(outcomes[:50]) == {None, "grab.user"}
    assert outcomes[50:] == [None] * 10


async def test_per_address_limits_skip_exempt_networks(redis: aioredis.Redis) -> None:
    """Three a minute per address: the fourth from 10.1.1.1 is refused whoever sends it; loopback
    (exempt) is never counted. Grabs (the sale's script) and comments (limits) alike."""
    policy = LimitPolicy.build({"grab.user": "off", "grab.address": "3/minute", "comment.user": "off",
                                "comment.address": "3/minute"}, "127.0.0.0/8")
    grabs, comments = GrabLimits(redis, Scripts().limit_grabs, policy), RateLimits(redis, policy)
    for n in range(3):
        await grabs.hit("s1", f"u{n}", "10.1.1.1")
        await comments.hit("comment", f"u{n}", "10.1.1.1")
    with pytest.raises(RateLimited) as refused:
        await grabs.hit("s1", "u9", "10.1.1.1")
    assert refused.value.rule == "grab.address" and refused.value.retry_after_s >= 1
    with pytest.raises(RateLimited) as refused:
        await comments.hit("comment", "u9", "10.1.1.1")
    assert refused.value.rule == "comment.address"
    await grabs.hit("s1", "u9", "10.1.1.2")
    for n in range(10):
        await grabs.hit("s1", f"u{n}", "127.0.0.1")
        await comments.hit("comment", f"u{n}", "127.0.0.1")


async def test_grab_limits_in_the_reserve_call_are_exact_under_concurrency(inventory: Inventory,
                                                                           redis: aioredis.Redis) -> None:
    """The limits checked inside the reserve call refuse as limit_grabs.lua did: 50 concurrent grabs
    of one user against 12 a minute reserve exactly 12, the rest are refused naming the limit and a
    wait, with nothing reserved; other users and sessions are counted apart; a repeated request id
    answers as it did without being counted; a grab refused for another reason (sold out) counts."""
    grabs = GrabLimits(redis, Scripts().limit_grabs, LimitPolicy.build({"grab.user": "12/minute"}))
    for sid in ("s1", "s2"):
        await inventory.load_stock(sid, "i1", add=1000)
        await inventory.open_sale(sid, "i1")

    async def one(sid: str, user: str, rid: str) -> str:
        cells = [cell for _, cell in grabs.rules(sid, user, "127.0.0.1")]
        try:
            r = await inventory.reserve(sid, "i1", user, 1, rid, limits=cells)
        except OverRateLimit as exc:
            assert exc.cell == 0 and exc.retry_after_ms > 0
            return "rate_limited"
        return "ok" if r.ok else str(r.reason)

    outcomes = await asyncio.gather(*(one("s1", "u1", f"r{n}") for n in range(50)),
                                    *(one("s1", "u2", f"r{n}") for n in range(5)),
                                    *(one("s2", "u1", f"r{n}") for n in range(5)))
    assert outcomes[:50].count("ok") == 12 and outcomes[:50].count("rate_limited") == 38
    assert outcomes[50:] == ["ok"] * 10
    assert await inventory.held_by("s1", "i1", "u1") == 12
    # A repeat of an accepted request id is its first answer, not a refusal and not a count.
    accepted = [f"r{n}" for n, o in enumerate(outcomes[:50]) if o == "ok"]
    assert [await one("s1", "u1", rid) for rid in accepted] == ["ok"] * 12
    # Sold out still counts: u3's 12 grabs of nothing use up her minute.
    await inventory.load_stock("s3", "i1", add=0)
    await inventory.open_sale("s3", "i1")
    assert [await one("s3", "u3", f"x{n}") for n in range(13)] == ["sold_out"] * 12 + ["rate_limited"]


async def test_a_grab_over_the_limit_is_refused_to_the_connection(inventory: Inventory,
                                                                   redis: aioredis.Redis) -> None:
    """Through a connection's limiter: the grab over the user's limit is a rate_limited refusal
    saying when to try again, counted as a strike; the address limit is named as the network's."""
    policy = LimitPolicy.build({"grab.user": "2/minute", "grab.address": "3/minute"}, "127.0.0.0/8")
    grabs = GrabLimits(redis, Scripts().limit_grabs, policy)
    await inventory.load_stock("s1", "i1", add=100)
    await inventory.open_sale("s1", "i1")
    alice = FrameLimiter(grabs=grabs, sid="s1", user_id="alice", address="10.0.0.7")
    assert [(await alice.reserve(inventory, "i1", "alice", 1, f"a{n}")).ok for n in range(2)] == [True, True]
    with pytest.raises(GrabRefused, match=r"you sent too many grabs; try again in \d+ s"):
        await alice.reserve(inventory, "i1", "alice", 1, "a2")
    assert alice.strikes == 1
    bob = FrameLimiter(grabs=grabs, sid="s1", user_id="bob", address="10.0.0.7")
    assert (await bob.reserve(inventory, "i1", "bob", 1, "b0")).ok
    with pytest.raises(GrabRefused, match="your network sent too many grabs"):
        await bob.reserve(inventory, "i1", "bob", 1, "b1")
    assert await inventory.held_by("s1", "i1", "bob") == 1


def test_a_bad_limit_is_refused_at_start() -> None:
    """A limit that does not parse, or names no rule, fails with the rule's name."""
    with pytest.raises(ValueError, match=r"grab\.user"):
        LimitPolicy.build({"grab.user": "lots"})
    with pytest.raises(ValueError, match="unknown rate limits"):
        LimitPolicy.build({"grab.users": "1/second"})
