"""The ledger pages in a real browser (Debian's chromium driven by Playwright), at phone width: the
community fund's report for its residents (and not for another community), a resident's points with a
redemption that yields a voucher, the office taking that voucher and refusing a spending that would
overdraw, and the grid desk's volunteer award."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import aiohttp
from playwright.async_api import expect

from community.accounts import credit_collection, post_fund
from infra.db import create_engine
from tests.browser import PHONE, NewPage, Screenshot, scroll_width, server_data_dir
from tests.live import Api, token
from tests.servers import ServerProcess

OPERATOR = token("root", "operator", None)
HOST, GRID, ADMIN = token("host1", "host"), token("grid1", "grid"), token("adm1", "admin", "c1")


async def _seed(server: ServerProcess, api: Api) -> None:
    """c1 (wang and li in grid1's grid) and c2; income of two months and a spending in c1's fund."""
    for cid, name in (("c1", "幸福里"), ("c2", "望江苑")):
        status, _ = await api.call("POST", "/api/communities", OPERATOR, {"id": cid, "name": name})
        assert status in (201, 409)
    for rid, name in (("wang", "王玉香"), ("li", "李建国")):
        await api.call("POST", "/api/communities/c1/residents", GRID, {"id": rid, "name": name, "building": "3号楼"})
    engine = create_engine(f"sqlite+aiosqlite:///{server_data_dir(server) / 'linli.db'}")
    try:
        async with engine.begin() as conn:
            # Orders collected (what the pickup counter posts): 10% of 3000.00 and of 1200.00.
            await credit_collection(conn, community_id="c1", user_id="wang", order_id="page-o1", amount_cents=300_000)
            await credit_collection(conn, community_id="c1", user_id="li", order_id="page-o2", amount_cents=120_000)
            await post_fund(conn, entry_id="order:page-o0", community_id="c1", kind="income", amount_cents=5_000,
                            ref="page-o0", at=datetime(2026, 10, 15, 4, tzinfo=UTC))
    finally:
        await engine.dispose()
    status, _ = await api.call("POST", "/api/communities/c1/fund/spending", ADMIN,
                               {"project": "楼道灯更换", "amount_cents": 12_000, "note": "业委会11月决议",
                                "request_id": "page-lamp"})
    assert status == 201


async def test_the_fund_page_shows_the_community_its_fund_and_nobody_else(server: ServerProcess, new_page: NewPage,
                                                                          screenshot: Screenshot) -> None:
    """A resident at phone width sees the balance, the 10% share, a bar per month and the spending by
    project with its note; large text still fits; another community's resident sees a refusal, no figures."""
    async with aiohttp.ClientSession() as http:
        await _seed(server, Api(http, server.url))
    page = await new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    await page.goto(f"{server.url}/fund/c1?token={token('wang')}")
    await expect(page.locator("#title")).to_have_text("幸福里 · 社区基金")
    await expect(page.locator("#balance")).to_have_text("¥350.00")  # 300 + 120 + 50 - 120
    await expect(page.locator("#facts")).to_contain_text("商家收入的 10% 进入基金")
    await expect(page.locator("#facts")).to_contain_text("累计收入 ¥470.00，累计支出 ¥120.00")
    months = page.locator(".month")
    await expect(months).to_have_count(2)
    await expect(months.first.locator(".amount")).to_have_text(re.compile(r"¥420\.00（2 笔订单）"))
    await expect(months.nth(1)).to_contain_text("2026年10月")
    widths = [await m.locator(".fill").evaluate("e => e.getBoundingClientRect().width") for m in
              (months.first, months.nth(1))]
    assert widths[0] > widths[1] * 5  # 420 against 50
    project = page.locator(".project")
    await expect(project.locator("h3")).to_have_text("楼道灯更换¥120.00")
    await expect(project.locator(".note")).to_have_text("业委会11月决议")
    await screenshot(page, "fund-phone")
    await page.locator("#big-text").click()
    assert await scroll_width(page) <= PHONE["width"]
    await page.locator("#lang").click()
    await expect(page.locator("#balance-title")).to_have_text("Balance")
    await page.locator("#lang").click()

    stranger = await new_page(viewport=PHONE, locale="zh-CN", refused=("/api/communities/c1/fund",))
    await stranger.goto(f"{server.url}/fund/c1?token={token('zhou', community='c2')}")
    await expect(stranger.locator("#status")).to_have_text("您没有权限做这件事")
    await expect(stranger.locator("#balance")).to_have_text("")


async def test_a_resident_redeems_a_voucher_the_office_takes_once(server: ServerProcess, new_page: NewPage,
                                                                 screenshot: Screenshot) -> None:
    """The grid desk awards wang volunteer points; on /points she sees her history in plain words, redeems a
    fee offset after confirming and sees its code; the office takes the code once (then 已经用过了), and a
    spending past the fund is refused with 会超支; her page then shows the voucher used."""
    async with aiohttp.ClientSession() as http:
        api = Api(http, server.url)
        await _seed(server, api)
        status, _ = await api.call("POST", "/api/communities/c1/rewards", ADMIN,
                                   {"id": "fee20", "title": "抵物业费20元", "points": 30, "kind": "fee_offset",
                                    "value_cents": 2000})
        assert status in (201, 409)
        status, _ = await api.call("POST", "/api/communities/c1/rewards", ADMIN,
                                   {"id": "tv", "title": "电视机", "points": 5000, "kind": "goods", "stock": 1})
        assert status in (201, 409)

    desk = await new_page(viewport=PHONE, locale="zh-CN", refused=("/wish-windows",))
    await desk.goto(f"{server.url}/grid?token={GRID}")
    await expect(desk.locator("#award-resident option")).to_have_count(2)
    await desk.locator("#award-resident").select_option("wang")
    await desk.locator("#award-points").fill("40")
    await desk.locator("#award-reason").fill("帮忙分拣快递")
    await desk.locator("#award-go").click()
    await expect(desk.locator("#award-result")).to_have_text(re.compile(r"^已奖励 王玉香.* 40 积分$"))

    page = await new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    await page.goto(f"{server.url}/points?token={token('wang')}")
    await expect(page.locator("#balance")).to_have_text(re.compile(r"^3040"))  # 3000 yuan collected + 40
    await expect(page.locator("#history li").first).to_contain_text("志愿服务：帮忙分拣快递")
    await expect(page.locator("#history")).to_contain_text("收货得积分")
    # What she cannot afford yet says what is missing instead of refusing after a tap.
    await expect(page.locator('[data-reward="tv"] button')).to_have_text("还差 1960 分")
    await expect(page.locator('[data-reward="tv"] button')).to_be_disabled()
    page.on("dialog", lambda dialog: dialog.accept())
    await page.locator('[data-reward="fee20"] button').click()
    voucher = re.compile(r"^换好了！抵用券号码：[A-Z2-9]{4} [A-Z2-9]{4} [A-Z2-9]{4}$")
    await expect(page.locator("#result")).to_have_text(voucher)
    code = (await page.locator("#vouchers .code").first.text_content() or "").strip()
    await expect(page.locator("#balance")).to_have_text(re.compile(r"^3010"))
    await expect(page.locator("#history li").first).to_contain_text("兑换：抵物业费20元")
    await screenshot(page, "points-phone")
    await page.locator("#big-text").click()
    assert await scroll_width(page) <= PHONE["width"]

    office = await new_page(viewport=PHONE, locale="zh-CN", refused=("/vouchers/verify", "/fund/spending",
                                                                       "/expired-orders"))
    await office.goto(f"{server.url}/office?token={ADMIN}")
    await expect(office.locator("#fund-balance")).to_have_text("¥350.00")
    await expect(office.locator("#expired li").first).to_be_visible()
    await office.locator("#voucher-code").fill(code.lower())
    await office.locator("#voucher-form button").click()
    await expect(office.locator("#voucher-result")).to_have_text("有效，已核销：王玉香 · 抵物业费20元 · 抵 ¥20.00")
    await office.locator("#voucher-code").fill(code)
    await office.locator("#voucher-form button").click()
    await expect(office.locator("#voucher-result")).to_have_text("这张券已经用过了，不能再抵")
    await office.locator("#spend-project").fill("儿童乐园")
    await office.locator("#spend-yuan").fill("400")
    await office.locator("#spend-form button").click()
    await expect(office.locator("#spend-result")).to_have_text("会超支：基金只有 ¥350.00")
    await office.locator("#spend-yuan").fill("50.5")
    await office.locator("#spend-form button").click()
    await expect(office.locator("#spend-result")).to_have_text("已记下：儿童乐园 ¥50.50")
    await expect(office.locator("#fund-balance")).to_have_text("¥299.50")
    await screenshot(office, "office-phone")
    await screenshot(desk, "grid-awards-phone")

    await page.reload()
    await expect(page.locator("#vouchers .voucher.used")).to_have_count(1)
    await expect(page.locator("#vouchers")).to_contain_text("物业已收下")
