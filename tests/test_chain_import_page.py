"""The grid desk's 接龙 import in a real browser at 360 px: paste → review every line → correct (choose who,
choose the product and qty, skip a line, accept an app duplicate) → confirm → what was written; pasting the
same chain again writes nothing. Debian's chromium driven by Playwright (tests/browser.py's fixtures)."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser import LAPTOP, PHONE, NewPage, Screenshot, scroll_width, signed_in
from tests.live import Api, token
from tests.servers import ServerProcess
from tests.test_crowdfund_pages import community, session_with_window

CHAIN = "\n".join([
    "#接龙 周三晚市",
    "1. 王玉香 红薯10斤",    # row 2: she wished herself already
    "2. 李建国 鸡蛋2盒",     # row 3: new
    "3. 王阿姨 红薯5斤",     # row 4: who? choose 赵秀英
    "4. 赵秀英 红薯1箱",     # row 5: a case: choose 10 斤
    "5. 老马 红薯2斤",       # row 6: skip
    "@李建国 鸡蛋 再加1盒",   # row 7: an edit
])


@pytest.mark.timeout(120)
async def test_a_grid_worker_reviews_corrects_and_confirms_a_chain(server: ServerProcess, new_page: NewPage,
                                                                   screenshot: Screenshot) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await community(api, "c8", "grid8")
        _, wid = await session_with_window(api, "c8", "周三晚市")
        await api.ok("POST", f"/api/wish-windows/{wid}/wishes", token("c8-wang", "resident", "c8"),
                     {"product_id": "c8-hongshu", "qty": 5, "pickup_point_id": "c8-p1"})

        page = await signed_in(new_page, server, token("grid8", "grid", "c8"), "/grid")
        await expect(page.locator("#window option")).to_have_count(1)
        await page.get_by_label("把微信群里的接龙整段粘贴到这里").fill(CHAIN)
        await page.get_by_role("button", name="读取并导入").click()
        review = page.locator("#review")
        await expect(review.locator("h3")).to_have_text("读到 7 行，请核对")
        line = lambda ref: review.locator(f'li[data-ref="{ref}"]')  # noqa: E731
        await expect(line("2.0").locator(".badge")).to_have_text("她自己已经要了")
        await expect(line("2.0")).to_contain_text("她自己已经要了 5斤，这一行不重复算")
        await expect(line("3.0").locator(".badge")).to_have_text("新心愿")
        await expect(line("3.0").locator(".what")).to_have_text("李建国 · 土鸡蛋 2盒 · 仁和药房")
        await expect(line("4.0").locator(".badge")).to_have_text("不知道是谁")
        await expect(line("5.0").locator(".badge")).to_have_text("商品没对上")
        await expect(line("7.0").locator(".badge")).to_have_text("修改：再加")
        await expect(line("7.0").locator(".what")).to_have_text("李建国 · 土鸡蛋 2盒 → 3盒")
        await expect(review.locator(".confirm")).to_have_text("确认导入（2 条）")
        await screenshot(page, "chain-review-phone")

        # Her corrections: who 王阿姨 is, the case in 斤, skip 老马, and 王玉香 does want 10 斤 more.
        await line("4.0").get_by_label("是哪一位？").select_option("c8-zhao")
        await expect(line("4.0").locator(".badge")).to_have_text("新心愿")
        await line("4.0").get_by_label("记住：群里的“王阿姨”就是赵秀英").check()
        await line("5.0").get_by_label("数量（斤）").fill("10")
        await line("5.0").get_by_label("数量（斤）").dispatch_event("change")
        await expect(line("5.0").locator(".badge")).to_have_text("新心愿")
        await line("6.0").get_by_label("跳过这一行").check()
        await expect(line("6.0").locator(".badge")).to_have_text("跳过")
        await line("2.0").get_by_label("她确实还要这些（另加一份）").check()
        await expect(line("2.0").locator(".badge")).to_have_text("新心愿")
        await expect(review.locator(".confirm")).to_have_text("确认导入（5 条）")
        assert await scroll_width(page) <= PHONE["width"]  # nothing wider than the phone
        await review.locator(".confirm").click()
        await expect(review.locator("h3")).to_have_text("写入了 5 条：4 条新心愿，1 处修改")
        await expect(line("6.0")).to_contain_text("已跳过")
        await screenshot(page, "chain-written-phone")

        wishes = {}
        for rid in ("wang", "li", "zhao"):
            found = await api.ok("GET", f"/api/wish-windows/{wid}/wishes?resident_id=c8-{rid}",
                                 token("grid8", "grid", "c8"))
            wishes[rid] = sorted((w["product_id"], w["qty"]) for w in found["wishes"] if w["status"] == "active")
        assert wishes == {"wang": [("c8-hongshu", 5), ("c8-hongshu", 10)], "li": [("c8-jidan", 3)],
                          "zhao": [("c8-hongshu", 5), ("c8-hongshu", 10)]}
        # 王阿姨 is remembered as 赵秀英's name in the chat: next time she is found without asking.
        listed = await api.ok("GET", "/api/communities/c8/residents?q=zxy", token("grid8", "grid", "c8"))
        assert listed["residents"][0]["aliases"] == ["王阿姨"]

        # The same chain again: everything was imported before, nothing to confirm.
        await review.get_by_role("button", name="再粘贴一段").click()
        await page.get_by_label("把微信群里的接龙整段粘贴到这里").fill(CHAIN)
        await page.get_by_role("button", name="读取并导入").click()
        await expect(line("3.0").locator(".badge")).to_have_text("以前导入过")
        await expect(line("7.0").locator(".badge")).to_have_text("以前导入过")
        await expect(review.locator(".confirm")).to_be_disabled()
        # In English and in large text the review says the same and still fits the phone.
        await page.locator("#lang").click()
        await expect(line("3.0").locator(".badge")).to_have_text("imported before")
        await page.locator("#big-text").click()
        await expect(review.locator(".confirm")).to_have_text("Confirm import (0)")
        assert await scroll_width(page) <= PHONE["width"]
        await screenshot(page, "chain-review-en-large-phone")


async def test_the_host_imports_a_chain_for_the_whole_community_from_the_console(
        server: ServerProcess, new_page: NewPage, screenshot: Screenshot) -> None:
    """The host console has the same importer: a resident of any grid is hers to import for, and a question
    for what the catalog lacks is noted as the asker's wish."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await community(api, "c9", "grid9")
        sid, _ = await session_with_window(api, "c9", "周五")
        await api.ok("POST", "/api/communities/c9/residents", token("host1", "host", "c9"),
                     {"id": "c9-ma", "name": "马桂芳", "building": "8号楼", "room": "101", "grid_worker_id": "grid0",
                      "aliases": ["开心果"]})
        page = await signed_in(new_page, server, token("host1", "host", "c9"), f"/host?session={sid}",
                               viewport=LAPTOP)
        chain = "1. 🍀开心果🍀 红薯3斤\n2. 李建国 鸡蛋1盒\n李建国：有香油吗？要一瓶"
        await page.get_by_label("把微信群里的接龙整段粘贴到这里").fill(chain)
        await page.locator("#host-chain-go").click()
        review = page.locator("#host-review")
        await expect(review.locator(".chain-line .badge")).to_have_text(
            ["新心愿", "新心愿", "是提问：记下她想要的（目录里没有）"])
        await expect(review.locator(".chain-line .what").nth(2)).to_have_text("李建国 · 香油 1瓶")
        await expect(review.locator(".chain-line .what").first).to_have_text("马桂芳 · 红薯 3斤 · 仁和药房")
        await review.get_by_role("button", name="确认导入（3 条）").click()
        await expect(review.locator("h3")).to_have_text("写入了 3 条：3 条新心愿，0 处修改")
        await screenshot(page, "host-chain-laptop")


async def test_a_one_product_chain_whose_header_the_catalog_does_not_know_is_fixed_once(
        server: ServerProcess, new_page: NewPage, screenshot: Screenshot) -> None:
    """山东烟薯 is no catalog name: the grid worker says once that the chain sells 红薯, and every line that
    names no product reads it, its cases through the header's 5斤一箱."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await community(api, "c7", "grid7")
        await session_with_window(api, "c7", "周日")
        page = await signed_in(new_page, server, token("grid7", "grid", "c7"), "/grid")
        await expect(page.locator("#window option")).to_have_count(1)
        chain = "#接龙\n山东烟薯 5斤一箱 25元\n1. 李建国 1箱\n2. 3-1205 两箱\n3. 赵秀英 红薯3斤"
        await page.get_by_label("把微信群里的接龙整段粘贴到这里").fill(chain)
        await page.get_by_role("button", name="读取并导入").click()
        review = page.locator("#review")
        await expect(review.locator(".chain-line .badge")).to_have_text(
            ["接龙的标题或说明，不导入", "接龙的标题或说明，不导入", "商品没对上", "商品没对上", "新心愿"])
        await review.get_by_label("这条接龙卖的是哪个商品？（没写商品的行都用它）").select_option("c7-hongshu")
        await expect(review.locator(".chain-line .what")).to_have_text(
            ["", "", "李建国 · 红薯 5斤 · 仁和药房", "王玉香 · 红薯 10斤 · 仁和药房", "赵秀英 · 红薯 3斤 · 仁和药房"])
        await screenshot(page, "chain-one-product-phone")
        await review.get_by_role("button", name="确认导入（3 条）").click()
        await expect(review.locator("h3")).to_have_text("写入了 3 条：3 条新心愿，0 处修改")
