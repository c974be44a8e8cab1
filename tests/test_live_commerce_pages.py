"""Scheduled flashes, comment-to-grab, the purchase ticker and the host's insight in a real browser
(Debian's chromium driven by Playwright), on a phone-sized live room and the host console. The pages are
tests/browser.py's, which fail a test on any JavaScript error."""

from __future__ import annotations

import re

import aiohttp
from playwright.async_api import expect

from tests.browser import LAPTOP, PHONE, NewPage, Screenshot
from tests.live import Api, neighbours, token
from tests.servers import ServerProcess

HOST = token("host1", "host")


async def test_countdown_comment_grab_ticker_and_summary(server: ServerProcess, new_page: NewPage,
                                                         screenshot: Screenshot) -> None:
    """Residents see a scheduled flash's countdown and queue, then it starts by itself; 王玉香 grabs by
    commenting 红薯+2 and is told plainly what 9号+1 lacks; 李建国 sees 王*香 in the ticker; the host's
    console draws the chart, lists the queue and shows the summary after the live."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await neighbours(api, HOST)
        sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六助农直播", "community_id": "c1"}))["id"]
        sweet = {"title": "红薯", "price_cents": 350, "stock": 20, "per_user_limit": 3, "unit": "斤"}
        iid = (await api.ok("POST", f"/api/sessions/{sid}/items", HOST, sweet))["id"]
        await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
        await api.ok("POST", f"/api/sessions/{sid}/flash-plans", HOST, {"item_id": iid, "in_s": 8, "duration_s": 120})

        wang = await new_page(viewport=PHONE, locale="zh-CN")
        await wang.goto(f"{server.url}/live/{sid}?token={token('wang')}")
        li = await new_page(viewport=PHONE, locale="zh-CN")
        await li.goto(f"{server.url}/live/{sid}?token={token('li')}")
        for page in (wang, li):
            await expect(page.locator("#prelaunch-big")).to_contain_text(re.compile(r"红薯 秒杀 0:0\d 后开始"))
            await expect(page.locator("#flash-queue li")).to_contain_text("红薯")
            await expect(page.locator("#items li").first).to_contain_text("1号 红薯")
        await screenshot(li, "live-prelaunch")
        # It starts by itself: the countdown goes, the button can be pressed.
        await expect(wang.locator("#grab")).to_be_enabled(timeout=15_000)
        await expect(wang.locator("#prelaunch")).to_be_hidden()

        await wang.fill("#comment-text", "红薯+2")
        await wang.click("#comment-form button")
        await expect(wang.locator("#grab-result")).to_have_text("抢到了！")
        await expect(wang.locator("#orders")).to_contain_text("红薯 × 2")
        await expect(li.locator("#comments")).to_contain_text("王*香：红薯+2")
        await expect(li.locator("#ticker")).to_have_text("王*香 刚刚下单", timeout=8_000)
        await screenshot(li, "live-ticker")
        await wang.wait_for_timeout(1100)  # the room takes a comment a second
        await wang.fill("#comment-text", "9号+1")
        await wang.click("#comment-form button")
        await expect(wang.locator("#grab-result")).to_contain_text("没有找到这个商品")

        host = await new_page(viewport=LAPTOP, locale="zh-CN")
        await host.goto(f"{server.url}/host?session={sid}&token={HOST}")
        await expect(host.locator("#insight")).to_be_visible()
        await expect(host.locator("#plan-queue")).to_contain_text("还没有排好的秒杀")
        await expect(host.locator("#insight-chart polyline[data-series=rate]")).to_have_count(1, timeout=8_000)
        await expect(host.locator("#insight-totals")).to_contain_text("共抢购 1 次")
        # The host queues one more from the console and takes it off again.
        await host.click("#plan-soon")
        await host.click("#plan-form button[type=submit]")
        await expect(host.locator("#plan-queue li")).to_contain_text("红薯")
        await expect(li.locator("#flash-queue li")).to_contain_text("红薯")
        await host.click("#plan-queue li button")
        await expect(host.locator("#plan-queue")).to_contain_text("还没有排好的秒杀")
        await expect(li.locator("#prelaunch")).to_be_hidden()

        await api.ok("POST", f"/api/sessions/{sid}/end", HOST)
        await host.click("#summary-show")
        await expect(host.locator("#summary table")).to_contain_text("2斤")
        await expect(host.locator("#summary")).to_contain_text("1 位买家")
        await screenshot(host, "host-insight")
