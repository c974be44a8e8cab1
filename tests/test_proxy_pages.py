"""代下单 and 谁替我办过事 in a real browser (Debian's chromium driven by Playwright, as in test_pages):
the grid desk picks a resident and the live, the room says for whom she orders and grabs for her, and
the resident reads who did it on her activity page.

The browser, server and screenshot fixtures are tests/browser.py's.
"""

from __future__ import annotations

import asyncio

import aiohttp
from playwright.async_api import expect

from tests.browser import NewPage, Screenshot, signed_in
from tests.live import Api, token
from tests.servers import ServerProcess
from tests.test_crowdfund_pages import session_with_window

OPERATOR = token("root", "operator", None)
CID = "cpx"


async def test_a_grid_worker_grabs_for_her_resident_who_sees_it_on_her_activity_page(
        server: ServerProcess, new_page: NewPage, screenshot: Screenshot) -> None:
    """Desk → resident and live → room in proxy mode (banner, grab for her) → way out; the order is hers
    and her 谁替我办过事 page says 网格员 替您抢了 红薯 1斤."""
    host, grid = token("host-px", "host", CID), token("grid-px", "grid", CID)
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await api.ok("POST", "/api/communities", OPERATOR, {"id": CID, "name": "幸福里"})
        for rid, name in (("px-wang", "王玉香"), ("px-li", "李建国")):
            await api.ok("POST", f"/api/communities/{CID}/residents", grid,
                         {"id": rid, "name": name, "building": "3号楼"})
        sid, _ = await session_with_window(api, CID, "周六助农直播")
        item = {"title": "红薯", "price_cents": 350, "stock": 10, "per_user_limit": 2, "unit": "斤"}
        iid = (await api.ok("POST", f"/api/sessions/{sid}/items", host, item))["id"]
        await api.ok("POST", f"/api/sessions/{sid}/live", host)
        await api.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", host, {"duration_s": 600})

        desk = await signed_in(new_page, server, grid, "/grid")
        await expect(desk.locator("#proxy")).to_be_visible()
        await expect(desk.locator("#proxy-session option")).to_have_count(1)
        await desk.select_option("#proxy-resident", "px-wang")
        await screenshot(desk, "grid-proxy")
        await desk.click("#proxy-go")
        await desk.wait_for_url(f"**/live/{sid}")
        assert "token" not in desk.url and "px-wang" not in desk.url
        await expect(desk.locator("#proxy-banner")).to_contain_text("正在为 王玉香 代下单")
        await expect(desk.locator("#grab")).to_be_enabled()
        await desk.click("#grab")
        await expect(desk.locator("#grab-result")).to_have_text("已替 王玉香 抢到！")
        await screenshot(desk, "live-proxy")
        await desk.click("#proxy-leave")
        await desk.wait_for_url("**/grid")
        assert await desk.evaluate("sessionStorage.getItem('linli-proxy')") is None

        # The order is hers: the session's orders name her and the grid worker as its proxy.
        for _ in range(100):
            orders = (await api.ok("GET", f"/api/sessions/{sid}/orders", host))["orders"]
            if orders:
                break
            await asyncio.sleep(0.05)
        assert [(o["user_id"], o["qty"]) for o in orders] == [("px-wang", 1)]

        resident = await signed_in(new_page, server, token("px-wang", "resident", CID), "/")
        await resident.click("text=谁替我办过事")
        await resident.wait_for_url("**/activity")
        await expect(resident.locator("#log li[data-action=proxy_grab]")).to_have_count(1, timeout=10_000)
        await expect(resident.locator("#log li .what")).to_contain_text("网格员 替您抢了 红薯 1斤")
        await resident.click("#big-text")
        await screenshot(resident, "activity")
        # Her neighbour has nobody acting for her.
        li = await signed_in(new_page, server, token("px-li", "resident", CID), "/activity")
        await expect(li.locator("#log")).to_contain_text("还没有人替您办过事")
