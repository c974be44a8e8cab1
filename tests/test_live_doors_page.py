"""The live room and the draw check in a real browser (Debian's chromium driven by Playwright): a supplier
opening a live link, a resident opening an ended live and one whose sign-in expired each see a clear
message with what to do, and the page stops asking to connect; a resident checks a draw she entered."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import aiohttp
import pytest
from playwright.async_api import ConsoleMessage, Page, Request, WebSocketRoute, expect

from infra.auth import issue_token
from tests.browser import PHONE, ConsoleErrorCheck, NewPage, Screenshot
from tests.live import SECRET, Api, Client, token
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(180)

HOST = token("host1", "host")


@pytest.fixture(scope="module")
async def server(server: ServerProcess) -> ServerProcess:
    """The page tests' server, with c1 and its resident wang."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await api.call("POST", "/api/communities", token("root", "operator", None), {"id": "c1", "name": "幸福里"})
        await api.call("POST", "/api/communities/c1/residents", HOST, {"id": "wang", "name": "王玉香"})
    return server


@pytest.fixture
def expected_console_error() -> ConsoleErrorCheck:
    """The one console line these pages are meant to cause: the browser's note of a refused API call (a 4xx:
    the ticket, and with an expired token every call)."""

    def refused(msg: ConsoleMessage) -> bool:
        return "/api/" in msg.location.get("url", "") and "status of 4" in msg.text

    return refused


async def _session(server: ServerProcess, *, end: bool = False) -> str:
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        sid: str = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六助农直播", "community_id": "c1"}))["id"]
        await api.ok("POST", f"/api/sessions/{sid}/items", HOST,
                     {"title": "海鸭蛋", "price_cents": 2800, "stock": 5, "unit": "盒"})
        await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
        if end:
            await api.ok("POST", f"/api/sessions/{sid}/end", HOST)
        return sid


async def _open_live(new_page: NewPage, server: ServerProcess, sid: str, tok: str) -> tuple[Page, list[str]]:
    page = await new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    asked: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.endswith("/api/ws-tickets"):
            asked.append(request.url)

    page.on("request", on_request)
    await page.goto(f"{server.url}/live/{sid}?token={tok}")
    return page, asked


async def test_a_supplier_opening_a_live_link_is_told_it_is_not_for_suppliers(
        server: ServerProcess, new_page: NewPage, screenshot: Screenshot) -> None:
    """A supplier sees that the live room is not for suppliers and a way to the supplier page, once:
    no "reconnecting" and no second ticket."""
    sid = await _session(server)
    page, asked = await _open_live(new_page, server, sid, token("farm1", "supplier", "c1"))
    await expect(page.locator("#gone")).to_be_visible()
    await expect(page.locator("#gone-text")).to_contain_text("供应商")
    await expect(page.locator("#gone-link")).to_have_attribute("href", "/supplier")
    await expect(page.locator("#conn")).not_to_contain_text("重连")
    await asyncio.sleep(2.5)  # the first retry would have come after 0.5 s, the next after 1 s
    assert len(asked) == 1 and await page.locator("body").get_attribute("data-gone") == "not_for_role"
    await screenshot(page, "live-supplier")


async def test_an_ended_live_says_so_and_points_to_her_orders(server: ServerProcess, new_page: NewPage) -> None:
    """A resident opening the link of a live that has ended reads that it ended and gets her orders' link;
    in English too."""
    sid = await _session(server, end=True)
    page, asked = await _open_live(new_page, server, sid, token("wang"))
    await expect(page.locator("#gone-text")).to_have_text("这场直播已经结束了")
    await expect(page.locator("#gone-link")).to_have_text("看看我的订单")
    await expect(page.locator("#gone-link")).to_have_attribute("href", "/orders")
    await asyncio.sleep(2)
    assert len(asked) == 1
    english = await new_page(viewport=PHONE, locale="zh-CN")
    await english.goto(f"{server.url}/live/{sid}?token={token('wang')}")
    await expect(english.locator("#gone")).to_be_visible()
    await english.locator("#lang").click()
    await expect(english.locator("#gone-text")).to_have_text("This live has ended")
    await expect(english.locator("#gone-link")).to_have_text("See my orders")


async def test_an_expired_sign_in_asks_to_sign_in_again(server: ServerProcess, new_page: NewPage) -> None:
    """A token that expired while the link waited: sign in again, not a reconnect loop."""
    sid = await _session(server)
    expiring = issue_token(SECRET, user_id="wang", role="resident", community_id="c1", ttl_s=1)
    await asyncio.sleep(max(0.0, 2.1 - (time.time() % 1)))
    page, asked = await _open_live(new_page, server, sid, expiring)
    await expect(page.locator("#gone-text")).to_contain_text("重新登录")
    await asyncio.sleep(2)
    assert len(asked) == 1


async def test_a_resident_checks_a_draw_she_entered(server: ServerProcess, new_page: NewPage,
                                                   screenshot: Screenshot) -> None:
    """After a draw the live room links to its check; the page recomputes SHA-256 of the seed and the winners
    in the browser and finds her own draw number."""
    sid = await _session(server)
    page, _ = await _open_live(new_page, server, sid, token("wang"))
    await expect(page.locator("#conn")).to_have_text("已连接")
    others = [await Client.join(server.url.replace("http", "ws"), sid, token(f"n{n}")) for n in range(3)]
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        bag = await api.ok("POST", f"/api/sessions/{sid}/lucky-bags", HOST,
                           {"title": "鸡蛋福袋", "winners": 2, "countdown_s": 3, "prize_points": 10})
        await expect(page.locator("#bag-list")).to_contain_text("鸡蛋福袋")
        await page.locator("#bag-list button").first.click()
        for c in others:
            await c.send({"type": "enter_lucky_bag", "bag_id": bag["id"]})
        await expect(page.locator("#bag-check")).to_be_visible(timeout=15_000)
        await expect(page.locator("#bag-check")).to_have_attribute("href", f"/draws/{bag['id']}")
        for _ in range(100):  # the worker records the draw moments later
            status, _ = await api.call("GET", f"/api/lucky-bag-draws/{bag['id']}", token("wang"))
            if status == 200:
                break
            await asyncio.sleep(0.1)
    await page.locator("#bag-check").click()
    await expect(page.locator("body")).to_have_attribute("data-checked", "ok")
    await expect(page.locator("#check-hash")).to_have_class("check yes")
    await expect(page.locator("#check-winners")).to_have_class("check yes")
    await expect(page.locator("#check-mine")).to_have_class("check yes")
    await expect(page.locator("#entrants li")).to_have_count(4)
    assert "wang" not in (await page.locator("#entrants").text_content() or "")
    await screenshot(page, "draw-check")
    await asyncio.gather(*(c.close() for c in others))


async def test_the_live_room_resumes_after_a_blip(server: ServerProcess, new_page: NewPage) -> None:
    """The socket drops; while it is down a neighbour comments and the host pins another item. The page
    reconnects with since=<its last seq>, is answered with resumed and the missed events (no snapshot), and
    shows the comment and the pin."""
    sid = await _session(server)
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        second = await api.ok("POST", f"/api/sessions/{sid}/items", HOST,
                              {"title": "新小米", "price_cents": 1200, "stock": 5, "unit": "袋"})
    page = await new_page(viewport=PHONE, locale="zh-CN")
    sockets: list[tuple[str, WebSocketRoute]] = []
    frames: list[list[dict[str, Any]]] = []
    release = asyncio.Event()

    async def route(ws: WebSocketRoute) -> None:
        mine: list[dict[str, Any]] = []
        frames.append(mine)
        sockets.append((ws.url, ws))
        if len(sockets) > 1:
            await release.wait()  # the blip lasts until the test has published what she misses
        upstream = ws.connect_to_server()

        def down(message: str | bytes) -> None:
            mine.append(json.loads(message))
            ws.send(message)

        upstream.on_message(down)

    await page.route_web_socket(re.compile(r".*/ws/sessions/.*"), route)
    await page.goto(f"{server.url}/live/{sid}?token={token('wang')}")
    await expect(page.locator("#conn")).to_have_text("已连接")
    await expect(page.locator("#items")).to_contain_text("新小米")
    talker = await Client.join(server.url.replace("http", "ws"), sid, token("li"))
    await talker.send({"type": "comment", "text": "大家好"})
    await expect(page.locator("#comments")).to_contain_text("大家好")
    last = max(f["seq"] for f in frames[0] if "seq" in f)

    await sockets[0][1].close(code=4000, reason="blip")
    await expect(page.locator("#conn")).to_contain_text("重连")
    await asyncio.sleep(1.1)  # a neighbour may comment about once a second
    await talker.send({"type": "comment", "text": "掉线时说的话"})
    await talker.wait_for(lambda e: e["type"] == "comment" and e["text"] == "掉线时说的话")
    async with aiohttp.ClientSession() as http:
        await Api(http, server.url).ok("POST", f"/api/sessions/{sid}/items/{second['id']}/pin", HOST)
    await talker.wait_for(lambda e: e["type"] == "item_pinned")
    for _ in range(100):
        if len(sockets) > 1:
            break
        await asyncio.sleep(0.1)
    release.set()

    await expect(page.locator("#conn")).to_have_text("已连接")
    await expect(page.locator("#comments")).to_contain_text("掉线时说的话")
    await expect(page.locator("#pinned-title")).to_have_text("新小米")
    assert f"since={last}" in sockets[1][0]
    assert frames[1][0]["type"] == "resumed" and frames[1][0]["after"] == last
    assert not [f for f in frames[1] if f["type"] == "snapshot"]
    await talker.close()
