"""Demand crowdfunding in a real browser: the resident's wish page and live room, the grid desk, the
host's window panel and the notices inbox (Debian's chromium driven by Playwright, as in test_pages).

Pages are signed in as the front page does it: the token is kept on the browser, never in a link
(tests/browser.py's signed_in, whose fixtures these tests use).
"""

from __future__ import annotations

import time

import aiohttp
from playwright.async_api import expect

from tests.browser import LAPTOP, NewPage, Screenshot, signed_in
from tests.live import Api, token
from tests.servers import ServerProcess

OPERATOR, HOST = token("root", "operator", None), token("host1", "host")
DAY = 86_400_000
RESIDENTS = [("wang", "王玉香", "3号楼", "1205"), ("li", "李建国", "3号楼", "802"), ("zhao", "赵秀英", "5号楼", "301")]
SWEET_POTATO = {"id": "hongshu", "supplier_id": "farm1", "name": "红薯", "aliases": ["地瓜"], "unit": "斤",
                "case_size": 10, "moq": 30, "capacity": 300, "lead_time_hours": 12,
                "tiers": [{"min_qty": 0, "price_cents": 400}, {"min_qty": 50, "price_cents": 350}]}
EGGS = {"id": "jidan", "supplier_id": "farm1", "name": "土鸡蛋", "aliases": ["鸡蛋"], "unit": "盒", "case_size": 1,
        "moq": 10, "capacity": 60, "lead_time_hours": 12, "tiers": [{"min_qty": 0, "price_cents": 2800}]}


async def community(api: Api, cid: str, grid: str) -> None:
    """A community with a pickup point, three residents in one grid and a supplier with two products."""
    await api.ok("POST", "/api/communities", OPERATOR, {"id": cid, "name": "幸福里"})
    host = token("host1", "host", cid)
    await api.ok("POST", f"/api/communities/{cid}/pickup-points", host, {"id": f"{cid}-p1", "name": "仁和药房"})
    for rid, name, building, room in RESIDENTS:
        await api.ok("POST", f"/api/communities/{cid}/residents", token(grid, "grid", cid),
                     {"id": f"{cid}-{rid}", "name": name, "building": building, "room": room})
    await api.ok("POST", "/api/suppliers", OPERATOR, {"id": f"{cid}-farm", "name": "东山农场", "community_ids": [cid]})
    for product in (SWEET_POTATO, EGGS):
        await api.ok("POST", "/api/products", OPERATOR,
                     {**product, "id": f"{cid}-{product['id']}", "supplier_id": f"{cid}-farm"})


async def session_with_window(api: Api, cid: str, title: str) -> tuple[str, str]:
    host = token("host1", "host", cid)
    sid = (await api.ok("POST", "/api/sessions", host, {"title": title, "community_id": cid}))["id"]
    now = int(time.time() * 1000)
    window = await api.ok("POST", "/api/wish-windows", host, {"session_id": sid, "live_at": now + 2 * DAY})
    return sid, window["id"]


async def test_a_resident_finds_the_window_wishes_and_keeps_her_hold(server: ServerProcess, new_page: NewPage,
                                                                    screenshot: Screenshot) -> None:
    """From the front page to the wish page, a wish, the host's cutoff, her outcome and hold, one tap in the
    live room to keep it, and after a reload it is still kept."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await community(api, "c2", "grid2")
        sid, wid = await session_with_window(api, "c2", "周日助农直播")
        await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token("c2-li", "resident", "c2"),
                     {"product_id": "c2-hongshu", "qty": 25, "pickup_point_id": "c2-p1"})

        page = await signed_in(new_page, server, token("c2-wang", "resident", "c2"), "/")
        await page.get_by_role("link", name="周日助农直播 · 填心愿").click()
        await expect(page.locator("#status")).to_contain_text("截单")
        sweet = page.locator("#products li", has_text="红薯")
        await expect(sweet).to_contain_text("还差 5斤 成团")
        await expect(sweet).to_contain_text("现价 ¥4.00/斤")
        await sweet.get_by_role("button", name="我要").click()
        await page.get_by_label("数量").fill("10")
        await page.get_by_role("button", name="加入心愿单").click()
        await expect(page.locator("#result")).to_have_text("已加入心愿单")
        await expect(page.locator("#mine li .what")).to_have_text(["红薯 10斤 · 仁和药房"])
        await expect(sweet).to_contain_text("已成团")

        await api.ok("POST", f"/api/wish-windows/{wid}/close", token("host1", "host", "c2"))
        await page.reload()
        line = page.locator("#mine li")
        await expect(line.locator(".outcome")).to_have_text("已为您预留 10斤")
        await expect(line.locator(".hold-state")).to_contain_text("待确认")
        await screenshot(page, "wish-outcome-phone")
        # The same outcome in English, rendered from its code.
        await page.get_by_role("button", name="EN").click()
        await expect(line.locator(".outcome")).to_have_text("10 斤 held for you")
        await page.get_by_role("button", name="中文").click()

        await line.get_by_role("link", name="去直播间确认").click()
        await expect(page).to_have_url(f"{server.url}/live/{sid}")
        hold = page.locator("#holds li")
        await expect(hold).to_contain_text("为您预留：红薯 10斤")
        await hold.get_by_role("button", name="确认要").click()
        await expect(hold).to_contain_text("（已确认）")
        await page.reload()
        await expect(page.locator("#holds li")).to_contain_text("为您预留：红薯 10斤")
        await expect(page.locator("#holds li")).to_contain_text("（已确认）")
        await page.goto(f"{server.url}/wishes/{wid}")
        await expect(page.locator("#mine li .hold-state")).to_contain_text("已确认")


async def test_a_grid_worker_fixes_a_refused_chain_line_and_the_host_sees_the_demand(
        server: ServerProcess, new_page: NewPage, screenshot: Screenshot) -> None:
    """The grid desk: find a resident by pinyin initials and wish for her; paste a chain, accept her chain
    line as well as her wish, choose who the unknown name is, confirm; the host's demand counts each wish once."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await community(api, "c3", "grid3")
        sid, _ = await session_with_window(api, "c3", "周三晚市")

    page = await signed_in(new_page, server, token("grid3", "grid", "c3"), "/grid")
    await expect(page.locator("#window option")).to_have_count(1)
    await page.get_by_label("找居民").fill("wyx")
    await expect(page.locator("#people button")).to_have_count(1)
    await page.locator("#people button", has_text="王玉香").click()
    await expect(page.locator("#person-title")).to_contain_text("为 王玉香 填心愿（3号楼 1205）")
    await page.get_by_label("商品").select_option("c3-hongshu")
    await page.get_by_label("数量").fill("5")
    await page.get_by_role("button", name="替她加入心愿").click()
    await expect(page.locator("#person-result")).to_have_text("已替她加入")
    await expect(page.locator("#person-wishes li .what")).to_have_text(["红薯 5斤 · 仁和药房"])

    chain = "#接龙 周三晚市\n1. 王玉香 红薯10斤\n2. 李建国 鸡蛋2盒\n3. 王阿姨 红薯5斤\n"
    await page.get_by_label("把微信群里的接龙整段粘贴到这里").fill(chain)
    await page.get_by_role("button", name="读取并导入").click()
    review = page.locator("#review")
    await expect(review.locator("h3").first).to_have_text("读到 4 行，请核对")
    lines = review.locator(".chain-line")
    # 王玉香 wished for 红薯 already (entered above): flagged, counted only when she wants it as well.
    await expect(lines.nth(1).locator(".badge")).to_have_text("她自己已经要了")
    await lines.nth(1).get_by_label("她确实还要这些（另加一份）").check()
    await expect(lines.nth(2).locator(".what")).to_have_text("李建国 · 土鸡蛋 2盒 · 仁和药房")
    await expect(lines.nth(3).locator(".badge")).to_have_text("不知道是谁")
    await screenshot(page, "grid-desk-phone")
    await lines.nth(3).get_by_label("是哪一位？").select_option("c3-zhao")
    await expect(lines.nth(3).locator(".what")).to_have_text("赵秀英 · 红薯 5斤 · 仁和药房")
    await review.get_by_role("button", name="确认导入（3 条）").click()
    await expect(review.locator("h3").first).to_have_text("写入了 3 条：3 条新心愿，0 处修改")
    # Pasting the whole chain again counts nothing twice.
    await review.get_by_role("button", name="再粘贴一段").click()
    await page.get_by_label("把微信群里的接龙整段粘贴到这里").fill(chain)
    await page.get_by_role("button", name="读取并导入").click()
    await expect(review.locator(".chain-counts")).to_have_text("接龙的标题或说明，不导入 1 · 以前导入过 3")
    await expect(review.get_by_role("button", name="确认导入（0 条）")).to_be_disabled()

    host = await signed_in(new_page, server, token("host1", "host", "c3"), f"/host?session={sid}", viewport=LAPTOP)
    row = host.locator("#demand tr", has_text="红薯")
    await expect(row.locator("td").nth(1)).to_have_text("20 / 30斤")
    await expect(row.locator("td").nth(2)).to_have_text("10斤")
    await expect(host.locator("#demand tr", has_text="土鸡蛋").locator("td").nth(1)).to_have_text("2 / 10盒")


async def test_the_host_opens_a_window_and_closes_it_from_the_console(server: ServerProcess, new_page: NewPage,
                                                                     screenshot: Screenshot) -> None:
    """The host creates the session's window in local time, sees the delivery check, watches demand, closes
    it now, and sees the supplier order and the holds the cutoff made."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await community(api, "c4", "grid4")
        host_token = token("host1", "host", "c4")
        sid = (await api.ok("POST", "/api/sessions", host_token, {"title": "周五夜市", "community_id": "c4"}))["id"]

        page = await signed_in(new_page, server, host_token, f"/host?session={sid}", viewport=LAPTOP)
        page.on("dialog", lambda dialog: dialog.accept())
        await expect(page.locator("#window-form")).to_be_visible()
        await expect(page.locator("#deadline-check")).to_have_text("送货时间来得及")
        await page.get_by_role("button", name="创建心愿单").click()
        await expect(page.locator("#window-times")).to_contain_text("征集中")
        wid = (await page.locator("#window-link").get_attribute("href") or "").rsplit("/", 1)[1]
        for rid, qty in (("wang", 20), ("li", 15)):
            await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token(f"c4-{rid}", "resident", "c4"),
                         {"product_id": "c4-hongshu", "qty": qty, "pickup_point_id": "c4-p1"})
        await page.reload()
        row = page.locator("#demand tr", has_text="红薯")
        await expect(row.locator("td").nth(1)).to_have_text("35 / 30斤")
        await expect(row.locator("td").nth(3)).to_have_text("40斤（4箱×10）")
        await screenshot(page, "host-window-laptop")

        await page.get_by_role("button", name="立即截单").click()
        await expect(page.locator("#window-times")).to_contain_text("已截单")
        await expect(page.locator("#cutoff-summary")).to_contain_text("下了 1 张供应商订单，为 2 条心愿预留")
        await expect(page.locator("#holds tr")).to_have_count(2, timeout=10_000)
        await expect(page.locator("#holds tr").first.locator("td")).to_have_text(["王玉香", "红薯", "20斤", "待确认"])
        # The supplier order the cutoff made, with its supplier's name.
        await expect(page.locator("#supplier-orders tr")).to_have_count(1)
        await expect(page.locator("#supplier-orders tr td").first).to_have_text("东山农场")
        await screenshot(page, "host-window-after-cutoff-laptop")


async def test_a_notice_waits_for_a_resident_who_was_away(server: ServerProcess, new_page: NewPage,
                                                          screenshot: Screenshot) -> None:
    """The cutoff decides her wish while she is offline; when she next opens her page the notice is there,
    and once seen it is read."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await community(api, "c5", "grid5")
        _, wid = await session_with_window(api, "c5", "周六早市")
        for rid, product, qty in (("zhao", "c5-hongshu", 30), ("zhao", "c5-jidan", 2)):
            await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token(f"c5-{rid}", "resident", "c5"),
                         {"product_id": product, "qty": qty, "pickup_point_id": "c5-p1"})
        await api.ok("POST", f"/api/wish-windows/{wid}/close", token("host1", "host", "c5"))

    page = await signed_in(new_page, server, token("c5-zhao", "resident", "c5"), f"/wishes/{wid}")
    inbox = page.locator("#notices")
    await expect(inbox).to_be_visible()
    await expect(inbox.locator("li.new .what")).to_have_text([
        "很遗憾，土鸡蛋 没有成团：大家一共要了 2盒，至少要 10盒",
        "心愿成团了：红薯 已为您预留 30斤，请在直播间确认"])
    await expect(page.locator("#inbox")).to_have_text("消息")  # seen, so read
    await screenshot(page, "notices-phone")
    await page.reload()
    await expect(page.locator("#notices")).to_be_hidden()
    await page.locator("#inbox").click()
    await expect(page.locator("#notices li.new")).to_have_count(0)
    await expect(page.locator("#notices li")).to_have_count(2)
