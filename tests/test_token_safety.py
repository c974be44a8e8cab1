"""Tokens stay out of URLs and logs, browsers join the live room with single-use tickets, and a revoked
token is refused at once, against a real `linli serve` process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from infra.resources import redis_client
from linli.accesslog import redact
from tests.live import SECRET, Api, bearer, token
from tests.servers import ServerProcess, linli_env, start_linli

OPERATOR, HOST = token("root", "operator", None), token("host1", "host")


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("token-safety")
    proc = await start_linli(["serve"], linli_env(tmp / "var", LINLI_SECRET=SECRET), tmp / "serve.log")
    yield proc
    proc.stop()


@pytest.fixture
async def api(server: ServerProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, server.url)


async def _session(api: Api, community: str = "c1", host: str = HOST) -> str:
    status, _ = await api.call("POST", "/api/communities", OPERATOR, {"id": community, "name": "幸福里"})
    assert status in (201, 409)
    return str((await api.ok("POST", "/api/sessions", host, {"title": "周六直播", "community_id": community}))["id"])


def _ws(server: ServerProcess, sid: str, query: str = "") -> str:
    return f"{server.url.replace('http://', 'ws://')}/ws/sessions/{sid}{query}"


async def _refused(url: str, **options: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, **options):
            pass
    return info.value.response.status_code


async def _problem(api: Api, method: str, path: str, tok: str | None, body: Any = None) -> tuple[int, str]:
    status, data = await api.call(method, path, tok, body)
    return status, data["error"]["code"] if status >= 400 else ""


async def test_a_token_in_a_url_is_refused_on_the_api_and_the_websocket(server: ServerProcess, api: Api) -> None:
    """?token= is 401 token_in_url on HTTP routes and on the websocket, even with a valid token; pages
    still open (the page moves an old link's token into storage), and the header works."""
    sid = await _session(api)
    resident = token("wang")
    async with api.http.get(f"{server.url}/api/me?token={resident}") as resp:
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_in_url"
    assert await _refused(_ws(server, sid, f"?token={resident}")) == 401
    async with api.http.get(f"{server.url}/live/{sid}?token={resident}") as resp:
        assert resp.status == 200
    async with connect(_ws(server, sid), additional_headers=bearer(resident)) as ws:
        assert '"snapshot"' in await ws.recv()


async def test_a_websocket_ticket_opens_one_room_once_for_half_a_minute(server: ServerProcess, api: Api) -> None:
    """POST /api/ws-tickets gives a random ticket bound to the caller and the session: it joins that room
    as the caller once; used again, on another session, or made up, it is 401 bad_ticket; another
    community's session gives no ticket (403); no token, no ticket (401)."""
    sid, other_sid = await _session(api), await _session(api)
    far_sid = await _session(api, "c2", token("host2", "host", "c2"))
    wang = token("wang")
    issued = await api.ok("POST", "/api/ws-tickets", wang, {"session_id": sid})
    assert len(issued["ticket"]) == 32 and wang not in issued["ticket"]
    ticket = issued["ticket"]
    port = (server.log.parent / "var" / "redis" / "port").read_text()
    redis = redis_client(f"redis://127.0.0.1:{port}/0")
    try:
        assert 0 < await redis.ttl(f"{{s:{sid}}}:ticket:{ticket}") <= 30  # under the session's hash tag
    finally:
        await redis.aclose()
    async with connect(_ws(server, sid, f"?ticket={ticket}")) as ws:
        snapshot = await ws.recv()
        assert '"me":"wang"' in snapshot
    assert await _refused(_ws(server, sid, f"?ticket={ticket}")) == 401
    elsewhere = (await api.ok("POST", "/api/ws-tickets", wang, {"session_id": sid}))["ticket"]
    assert await _refused(_ws(server, other_sid, f"?ticket={elsewhere}")) == 401
    assert await _refused(_ws(server, sid, "?ticket=" + "A" * 32)) == 401
    assert await _problem(api, "POST", "/api/ws-tickets", wang, {"session_id": far_sid}) == (403, "forbidden")
    assert await _problem(api, "POST", "/api/ws-tickets", None, {"session_id": sid}) == (401, "unauthorized")
    assert await _problem(api, "POST", "/api/ws-tickets", wang, {"session_id": "s-none"}) == (404, "unknown_session")


async def test_the_access_log_masks_every_query_value(server: ServerProcess, api: Api) -> None:
    """The log of `linli serve` names paths and query keys, never a query value: neither a token in an old
    link, nor one in the Referer, nor a websocket ticket."""
    sid = await _session(api)
    secrets = {"page": token("pageuser"), "referer": token("refuser"), "api": token("apiuser")}
    ticket = (await api.ok("POST", "/api/ws-tickets", token("wang"), {"session_id": sid}))["ticket"]
    async with api.http.get(f"{server.url}/live/{sid}?token={secrets['page']}&lang=en",
                            headers={"Referer": f"{server.url}/host?token={secrets['referer']}"}) as resp:
        assert resp.status == 200
    async with api.http.get(f"{server.url}/api/me?token={secrets['api']}") as resp:
        assert resp.status == 401
    async with connect(_ws(server, sid, f"?ticket={ticket}")) as ws:
        await ws.recv()
    wanted = f"GET /live/{sid}?token=*&lang=* HTTP/1.1"
    for _ in range(100):  # a websocket's line is written once it has closed
        log = server.output()
        if wanted in log and f"/ws/sessions/{sid}?ticket=* " in log:
            break
        await asyncio.sleep(0.05)
    assert wanted in log and f"{server.url}/host?token=*" in log and "GET /api/me?token=* " in log
    assert f"/ws/sessions/{sid}?ticket=* " in log
    for value in (*secrets.values(), ticket, *(t.split(".")[1] for t in secrets.values())):
        assert value not in log
    assert redact("/a?x=1&flag&y=#frag") == "/a?x=*&flag&y=*" and redact("/plain#frag") == "/plain"


def _revoke(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    data_dir = server.log.parent / "var"
    return subprocess.run([sys.executable, "-m", "linli", "token", "revoke", *args],
                          env=linli_env(data_dir, LINLI_SECRET=SECRET), capture_output=True, text=True, timeout=60)


async def test_linli_token_revoke_denies_a_token_or_a_user_at_once(server: ServerProcess, api: Api) -> None:
    """`linli token revoke --jti` refuses that token on the next request (401 token_revoked), on HTTP, for
    tickets and on the websocket; `--user` every token the user holds now; other tokens go on working."""
    sid = await _session(api)
    first, second, neighbour = token("lost-phone"), token("lost-phone"), token("neighbour")
    assert (await api.ok("GET", "/api/me", first))["user_id"] == "lost-phone"
    held = (await api.ok("POST", "/api/ws-tickets", first, {"session_id": sid}))["ticket"]
    from infra.auth import verify_token

    out = _revoke(server, "--jti", verify_token(SECRET, first).token_id)
    assert out.returncode == 0, out.stderr
    assert await _problem(api, "GET", "/api/me", first) == (401, "token_revoked")
    assert await _problem(api, "POST", "/api/ws-tickets", first, {"session_id": sid}) == (401, "token_revoked")
    assert await _refused(_ws(server, sid), additional_headers=bearer(first)) == 401
    assert await _refused(_ws(server, sid, f"?ticket={held}")) == 401  # given before, redeemed after
    assert (await api.ok("GET", "/api/me", second))["user_id"] == "lost-phone"

    out = _revoke(server, "--user", "lost-phone")
    assert out.returncode == 0 and "lost-phone" in out.stdout, out.stderr
    assert await _problem(api, "GET", "/api/me", second) == (401, "token_revoked")
    assert (await api.ok("GET", "/api/me", neighbour))["user_id"] == "neighbour"
    assert _revoke(server).returncode == 2


async def test_the_revocation_route_serves_operators_and_everyone_for_themselves(api: Api) -> None:
    """POST /api/token-revocations: anyone may revoke their own token or all of their own; only an operator
    someone else's; a community's admin is no operator."""
    from infra.auth import verify_token

    mine, other, admin = token("self-out"), token("someone"), token("boss", "admin", "c1")
    assert await _problem(api, "POST", "/api/token-revocations", admin, {"user_id": "someone"}) == (403, "forbidden")
    assert await _problem(api, "POST", "/api/token-revocations", mine, {}) == (400, "bad_request")
    done = await api.ok("POST", "/api/token-revocations", mine, {"jti": verify_token(SECRET, mine).token_id})
    assert done == {"jti": verify_token(SECRET, mine).token_id}
    assert await _problem(api, "GET", "/api/me", mine) == (401, "token_revoked")
    done = await api.ok("POST", "/api/token-revocations", OPERATOR, {"user_id": "someone"})
    assert done["user_id"] == "someone" and done["until"] > 0
    assert await _problem(api, "GET", "/api/me", other) == (401, "token_revoked")


async def test_the_demo_people_are_not_served_without_the_demo(api: Api) -> None:
    """Without `linli serve --demo`, GET /api/demo is 404: no tokens for anyone."""
    assert await _problem(api, "GET", "/api/demo", None) == (404, "not_found")
