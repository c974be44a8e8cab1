"""The pages in a real browser (Debian's chromium driven by Playwright).

Every page a test opens must run without a JavaScript error. Screenshots go to a temporary
folder unless asked for: ``LINLI_SCREENSHOTS=1`` rewrites the README's pictures in
docs/screenshots, ``LINLI_SCREENSHOTS=<folder>`` writes them there. The browser, page, server
and screenshot fixtures are tests/browser.py's, shared by every page test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
from playwright.async_api import expect

from tests.browser import PHONE, NewPage, Screenshot
from tests.live import Api, bearer, neighbours, token
from tests.servers import ServerProcess, linli_env, start_linli


async def test_residents_see_the_flash_grab_and_sell_out(server: ServerProcess, new_page: NewPage,
                                                         screenshot: Screenshot) -> None:
    """One resident sees the host's flash start, grabs the last unit and sees success and the
    stock drop; the other sees it sold out."""
    host = token("host1", "host")
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await neighbours(api, host)
        sid = (await api.ok("POST", "/api/sessions", host, {"title": "周六助农直播", "community_id": "c1"}))["id"]
        egg = {"title": "海鸭蛋", "price_cents": 2800, "stock": 1, "per_user_limit": 1, "unit": "盒"}
        iid = (await api.ok("POST", f"/api/sessions/{sid}/items", host, egg))["id"]
        await api.ok("POST", f"/api/sessions/{sid}/live", host)
        await api.ok("POST", f"/api/sessions/{sid}/items/{iid}/pin", host)

        pages = []
        for user in ("wang", "li"):
            page = await new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
            await page.goto(f"{server.url}/live/{sid}?token={token(user)}")
            await expect(page.locator("#pinned-title")).to_have_text("海鸭蛋")
            await expect(page.locator("#grab")).to_have_text("未开售")
            await expect(page.locator("#grab")).to_be_disabled()
            pages.append(page)
        wang, li = pages

        await api.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", host, {"duration_s": 120})
        for page in pages:
            await expect(page.locator("#grab")).to_have_text("立即抢购")
            # Two minutes read as a clock (1:59), not as 119 秒.
            await expect(page.locator("#pinned-countdown")).to_have_text(re.compile(r"^还剩 1:5\d$"))
        await wang.locator("#grab").click()
        await expect(wang.locator("#grab-result")).to_have_text("抢到了！")
        await expect(wang.locator("#pinned-left")).to_have_text("0")
        await expect(wang.locator("#orders li")).to_have_text(["海鸭蛋 × 1  已下单"])
        await expect(li.locator("#pinned-left")).to_have_text("0")
        await expect(li.locator("#grab")).to_have_text("已抢光")
        await expect(li.locator("#grab")).to_be_disabled()
        await screenshot(wang, "live-room-phone")

        # A lucky bag: both enter with one tap and both see the same result.
        await api.ok("POST", f"/api/sessions/{sid}/lucky-bags", host,
                     {"title": "邻里福袋", "winners": 1, "countdown_s": 3, "prize_points": 20})
        for page in pages:
            await page.locator("#bag-list button").click()
            await expect(page.locator("#bag-result")).to_have_text("已参与福袋，等待开奖")
        results = []
        for page in pages:
            await expect(page.locator("#bag-result")).not_to_have_text("已参与福袋，等待开奖", timeout=10_000)
            results.append(await page.locator("#bag-result").text_content() or "")
        assert sorted(results) == ["恭喜您中了福袋！", "福袋已开奖：1位邻居中奖"]
        winners = [await page.locator("#bag-winners").text_content() for page in pages]
        # Neighbours are named by masked name, never by id.
        assert winners[0] == winners[1] and winners[0] in ("中奖名单：王*香", "中奖名单：李*国")
        await wang.locator("#comment-text").fill("红薯很甜")
        await wang.locator("#comment-form button").click()
        await expect(li.locator("#comments li")).to_have_text(["王*香：红薯很甜"])


async def test_an_old_link_with_a_token_leaves_no_token_in_the_address_bar_or_a_socket_url(
        server: ServerProcess, new_page: NewPage) -> None:
    """/live/<sid>?token=... (an old link): the page keeps the token, takes it out of the address bar at once
    (other parameters stay), and joins the room with single-use tickets, on every reconnection too."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await api.call("POST", "/api/communities", token("root", "operator", None), {"id": "c1", "name": "幸福里"})
        session = {"title": "旧链接", "community_id": "c1"}
        sid = (await api.ok("POST", "/api/sessions", token("host1", "host"), session))["id"]
    tok = token("oldlink")
    page = await new_page(viewport=PHONE, locale="zh-CN")
    sockets: list[str] = []
    requests: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda request: requests.append(request.url))
    await page.goto(f"{server.url}/live/{sid}?token={tok}&from=chat")
    await expect(page.locator("#conn")).to_have_text("已连接")
    assert page.url == f"{server.url}/live/{sid}?from=chat"
    assert await page.evaluate("localStorage.getItem('linli-token')") == tok
    await page.reload()
    await expect(page.locator("#conn")).to_have_text("已连接")
    assert page.url == f"{server.url}/live/{sid}?from=chat"
    assert len(sockets) == 2 and all("?ticket=" in url and tok not in url for url in sockets)
    assert all(tok not in url for url in requests[1:]), requests


async def test_a_resident_adds_a_wish_and_sees_it_after_a_reload(server: ServerProcess, new_page: NewPage,
                                                                 screenshot: Screenshot) -> None:
    """The wish list: choose a product, a quantity and a pickup point; the wish is still there after a reload."""
    import time

    host, operator = token("host1", "host"), token("root", "operator", None)
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await api.call("POST", "/api/communities", operator, {"id": "c1", "name": "幸福里"})
        await api.call("POST", "/api/communities/c1/pickup-points", host, {"id": "p1", "name": "仁和药房"})
        await api.call("POST", "/api/suppliers", operator, {"id": "farm1", "name": "东山农场", "community_ids": ["c1"]})
        await api.call("POST", "/api/communities/c1/residents", operator, {"id": "zhao", "name": "赵敏"})
        await api.call("POST", "/api/products", operator, {
            "id": "hongshu", "supplier_id": "farm1", "name": "红薯", "unit": "斤", "case_size": 10, "moq": 30,
            "capacity": 500, "tiers": [{"min_qty": 0, "price_cents": 400}, {"min_qty": 50, "price_cents": 350}]})
        sid = (await api.ok("POST", "/api/sessions", host, {"title": "周日直播", "community_id": "c1"}))["id"]
        now = int(time.time() * 1000)
        window = {"session_id": sid, "live_at": now + 2 * 86_400_000}
        wid = (await api.ok("POST", "/api/wish-windows", host, window))["id"]

    page = await new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    await page.goto(f"{server.url}/wishes/{wid}?token={token('zhao')}")
    await expect(page.locator("#status")).to_contain_text("截单：")
    await expect(page.locator("#tiers")).to_contain_text("满50斤 ¥3.50/斤")
    await page.get_by_label("商品", exact=True).select_option("hongshu")
    await page.get_by_label("数量").fill("5")
    await page.get_by_label("自提点").select_option("p1")
    await page.get_by_role("button", name="加入心愿单").click()
    await expect(page.locator("#result")).to_have_text("已加入心愿单")
    await expect(page.locator("#mine li span")).to_have_text(["红薯 5斤 · 仁和药房"])
    await page.reload()
    await expect(page.locator("#mine li span")).to_have_text(["红薯 5斤 · 仁和药房"])
    await screenshot(page, "wish-list-phone")
    # Large text for elderly eyes, kept for the next visit.
    await page.get_by_role("button", name="大字").click()
    await expect(page.locator("html")).to_have_class("big")
    await page.reload()
    await expect(page.locator("html")).to_have_class("big")
    await expect(page.get_by_role("button", name="大字")).to_have_attribute("aria-pressed", "true")


async def test_a_supplier_sees_the_totals_and_no_resident(server: ServerProcess, new_page: NewPage,
                                                          screenshot: Screenshot) -> None:
    """The supplier board shows the aggregated totals per product and pickup point, never a resident."""
    import time

    host, operator, grid = token("host1", "host"), token("root", "operator", None), token("grid1", "grid")
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await api.call("POST", "/api/communities", operator, {"id": "c1", "name": "幸福里"})
        for pid, name in (("p1", "仁和药房"), ("p2", "3号楼快递柜")):
            await api.call("POST", "/api/communities/c1/pickup-points", host, {"id": pid, "name": name})
        await api.call("POST", "/api/suppliers", operator, {"id": "farm2", "name": "西岭果园", "community_ids": ["c1"]})
        await api.call("POST", "/api/communities/c1/residents", operator, {"id": "sunny", "name": "孙妮"})
        await api.call("POST", "/api/products", operator, {
            "id": "pingguo", "supplier_id": "farm2", "name": "苹果", "unit": "斤", "case_size": 10, "moq": 10,
            "capacity": 500, "tiers": [{"min_qty": 0, "price_cents": 600}]})
        await api.call("POST", "/api/communities/c1/residents", grid,
                       {"id": "wangyx", "name": "王玉香", "phone": "13800000009"})
        sid = (await api.ok("POST", "/api/sessions", host, {"title": "果园直播", "community_id": "c1"}))["id"]
        now = int(time.time() * 1000)
        window = {"session_id": sid, "live_at": now + 2 * 86_400_000}
        wid = (await api.ok("POST", "/api/wish-windows", host, window))["id"]
        await api.ok("POST", f"/api/wish-windows/{wid}/wishes", grid,
                     {"resident_id": "wangyx", "product_id": "pingguo", "qty": 20, "pickup_point_id": "p1"})
        await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token("sunny"),
                     {"product_id": "pingguo", "qty": 15, "pickup_point_id": "p2"})
        await api.ok("POST", f"/api/wish-windows/{wid}/close", host)

    page = await new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    await page.goto(f"{server.url}/supplier?token={token('farm2', 'supplier', None)}")
    row = page.locator("tr.line")
    await expect(row).to_have_count(1)
    await expect(row.locator("td")).to_have_text(["苹果", "35斤", "40斤", "5斤", "¥6.00", "¥240.00"])
    await expect(page.locator(".chart-row .chart-value")).to_have_text(["20斤", "15斤"])
    await expect(page.locator(".chart-row .chart-label")).to_have_text(["苹果 · 仁和药房", "苹果 · 3号楼快递柜"])
    text = await page.locator("body").inner_text()
    for secret in ("王玉香", "wangyx", "13800000009", "sunny", "grid1"):
        assert secret not in text
    await screenshot(page, "supplier-board-phone")
    await page.get_by_role("button", name="确认接单").click()
    await expect(page.locator("h2")).to_contain_text("已确认")


async def test_the_host_console_runs_a_session_and_shows_sales_live(server: ServerProcess, new_page: NewPage,
                                                                   screenshot: Screenshot) -> None:
    """At laptop width the host creates a session and an item, goes live and starts a flash sale;
    a resident's grab shows up as sold and as revenue."""
    from websockets.asyncio.client import connect

    async with aiohttp.ClientSession() as http:
        await Api(http, server.url).call("POST", "/api/communities", token("root", "operator", None),
                                         {"id": "c1", "name": "幸福里"})
    page = await new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(f"{server.url}/host?token={token('host1', 'host')}")
    await page.get_by_label("标题").fill("周三晚市")
    await page.get_by_role("button", name="创建").click()
    await expect(page.locator("#session-info")).to_contain_text("未开播")
    await page.get_by_label("名称").first.fill("土鸡蛋")
    await page.get_by_label("价格(分)").fill("1500")
    await page.get_by_label("单位").fill("盒")
    await page.get_by_label("库存", exact=True).fill("10")
    await page.get_by_role("button", name="上架").click()
    await expect(page.locator("tr.line td").first).to_have_text("土鸡蛋")
    await page.get_by_role("button", name="开播").click()
    await expect(page.locator("#session-info")).to_contain_text("直播中")
    await page.get_by_role("button", name="开秒杀").click()
    await expect(page.get_by_role("button", name="秒杀中")).to_be_visible()
    sid = (await page.locator("#share").get_attribute("href")).rsplit("/", 1)[1]  # type: ignore[union-attr]
    iid = "i1"
    async with connect(f"{server.url.replace('http', 'ws')}/ws/sessions/{sid}",
                       additional_headers=bearer(token("mama"))) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "grab", "item_id": iid, "qty": 2, "request_id": "host-test"}))
        while '"grab_result"' not in (reply := await ws.recv()):
            pass
        assert '"ok":true' in reply
    await expect(page.locator("tr.line td").nth(2)).to_have_text("2")
    await expect(page.locator("tr.line td").nth(3)).to_have_text("8")
    await expect(page.locator("#revenue")).to_have_text("¥30.00")
    await screenshot(page, "host-console-laptop")


async def test_a_token_kept_under_the_old_key_still_signs_in(server: ServerProcess, new_page: NewPage) -> None:
    """A host signed in under the console's old storage key stays signed in; the token moves to the one key."""
    async with aiohttp.ClientSession() as http:
        await Api(http, server.url).call("POST", "/api/communities", token("root", "operator", None),
                                         {"id": "c1", "name": "幸福里"})
    host = token("host2", "host")
    page = await new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    await page.goto(f"{server.url}/static/live.css")  # the origin, so its storage can be set
    await page.evaluate("t => localStorage.setItem('linli-host-token', t)", host)
    await page.goto(f"{server.url}/host")
    await page.get_by_label("标题").fill("老朋友专场")
    await page.get_by_role("button", name="创建").click()
    await expect(page.locator("#session-info")).to_contain_text("未开播")
    kept = await page.evaluate("[localStorage.getItem('linli-token'), localStorage.getItem('linli-host-token')]")
    assert kept == [host, None]


async def test_the_demo_opens_onto_a_chooser_of_people(tmp_path: Path, new_page: NewPage,
                                                       screenshot: Screenshot) -> None:
    """`linli serve --demo`: the front page lists demo residents, the host, a grid worker, pickup staff, the
    suppliers and the community's admin, each with their pages; a tap signs in (the link itself carries no
    token)."""
    demo = await start_linli(["serve", "--demo"], linli_env(tmp_path / "var"), tmp_path / "demo.log")
    try:
        page = await new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
        await page.goto(demo.url + "/")
        await expect(page.locator("#people .who")).to_have_text(
            ["王阿姨", "李大叔", "赵奶奶", "主播 小周", "网格员 刘姐", "仁和药房 店员 小林", "供应商 东山农场",
             "供应商 西岭果园", "社区管理员 陈主任"])
        for link in await page.locator("#people a").all():
            assert "token" not in (await link.get_attribute("href") or "")
        await screenshot(page, "sign-in-phone")
        await page.locator("#people li", has_text="王阿姨").get_by_role("link", name="进直播间").click()
        await expect(page.locator("#items li")).to_have_count(4)
        await expect(page.locator("#holds li")).to_contain_text("（已确认）")
        await expect(page.locator("#title")).to_have_text("周六助农直播")
        # English on request, kept for the next visit; large text for elderly eyes.
        await page.get_by_role("button", name="EN").click()
        await expect(page.locator("#items-title")).to_have_text("Items")
        await expect(page.locator("#items li button").first).to_have_text("Not on sale")
        await page.reload()
        await expect(page.locator("#mine-title")).to_have_text("My orders")
        await page.get_by_role("button", name="Large text").click()
        assert await page.evaluate("document.documentElement.classList.contains('big')")
        await page.get_by_role("button", name="中文").click()
        await expect(page.locator("#items-title")).to_have_text("本场商品")
        await page.context.close()
        # A printed per-person link (/?as=) signs in as that person the same way.
        host_page = await new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        await host_page.goto(demo.url + "/?as=demo-host")
        await expect(host_page).to_have_url(re.compile(r"/host\?session=s"))
        assert "demo-host" in await host_page.evaluate("atob(localStorage.getItem('linli-token').split('.')[1])")
        await host_page.context.close()
    finally:
        demo.stop()
