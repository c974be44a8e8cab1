"""The pickup counter and 我的订单 in a real browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest
from playwright.async_api import ConsoleMessage, expect

from tests.browser import PHONE, ConsoleErrorCheck, NewPage, Screenshot
from tests.live import Api, Client, token
from tests.servers import ServerProcess

OPERATOR = token("root", "operator", None)
HOST = token("host1", "host")
STAFF = token("pharmacist", "pickup")


# The counter's refusals of a wrong or repeated code are answers the page shows; the browser logs each
# as a failed resource, which is expected here and nowhere else.
EXPECTED = re.compile(r"status of (404|409) .*/api/pickup-points/p1/collect\)$")


@pytest.fixture
def expected_console_error() -> ConsoleErrorCheck:
    """The counter's expected refusals: the test fails on any other console error."""

    def refusal(msg: ConsoleMessage) -> bool:
        return bool(EXPECTED.search(f"{msg.text} ({msg.location.get('url', '')})"))

    return refusal


async def _grabbed(server: ServerProcess, resident: str, name: str) -> tuple[Api, str, str]:
    """A community with a pharmacy, its staff, a resident who grabbed 海鸭蛋 in a live; its delivery arrived.
    Returns (api, session id, order id)."""
    http = aiohttp.ClientSession()
    api = Api(http, server.url)
    await api.call("POST", "/api/communities", OPERATOR, {"id": "c1", "name": "幸福里"})
    await api.call("POST", "/api/communities/c1/pickup-points", HOST, {
        "id": "p1", "name": "仁和药房", "address": "幸福路1号", "kind": "pharmacy", "hours": "08:00-21:00"})
    await api.call("POST", "/api/communities/c1/pickup-points", HOST, {
        "id": "p2", "name": "3号楼快递柜", "address": "3号楼东门", "kind": "locker", "hours": "全天"})
    await api.ok("POST", "/api/communities/c1/pickup-staff", HOST, {"user_id": "pharmacist", "pickup_point_id": "p1"})
    await api.ok("POST", "/api/communities/c1/residents", HOST, {"id": resident, "name": name})
    sid = (await api.ok("POST", "/api/sessions", HOST, {"title": "周六助农直播", "community_id": "c1"}))["id"]
    iid = (await api.ok("POST", f"/api/sessions/{sid}/items", HOST, {
        "title": "海鸭蛋", "price_cents": 2800, "stock": 10, "per_user_limit": 2, "unit": "盒"}))["id"]
    await api.ok("POST", f"/api/sessions/{sid}/live", HOST)
    await api.ok("POST", f"/api/sessions/{sid}/items/{iid}/flash", HOST, {"duration_s": 120})
    client = await Client.join(server.url.replace("http", "ws"), sid, token(resident))
    await client.send({"type": "grab", "item_id": iid, "qty": 1, "request_id": "g1"})
    result = await client.wait_for(lambda e: e["type"] == "grab_result")
    await client.close()
    assert result["ok"], result
    oid = str(result["order_id"])
    deadline = time.monotonic() + 15
    while not any(o["id"] == oid for o in (await api.ok("GET", "/api/me/orders", token(resident)))["orders"]):
        assert time.monotonic() < deadline, "the order did not reach SQL"
        await asyncio.sleep(0.1)
    return api, sid, oid


async def _close(api: Api) -> None:
    await api.http.close()


async def test_my_orders_shows_the_point_the_big_code_and_its_qr(server: ServerProcess, new_page: NewPage,
                                                                 screenshot: Screenshot) -> None:
    """After the delivery: the order reads 已到自提点, with the point's name, address and hours, the 6-digit
    code in big type and its QR (fetched with the token in a header); large text stays on."""
    api, sid, oid = await _grabbed(server, "wang", "王玉香")
    try:
        await api.ok("POST", "/api/pickup-points/p1/deliveries", STAFF, {"session_id": sid})
        (order,) = [o for o in (await api.ok("GET", "/api/me/orders", token("wang")))["orders"] if o["id"] == oid]
    finally:
        await _close(api)
    page = await new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    await page.goto(f"{server.url}/orders?token={token('wang')}")
    card = page.locator("section.order").first
    await expect(card.locator(".state")).to_have_text("已到自提点，可以去取了")
    await expect(card.locator(".pickup-code")).to_have_text(order["pickup_code"])
    await expect(card).to_contain_text("仁和药房")
    await expect(card).to_contain_text("幸福路1号 · 营业时间 08:00-21:00")
    await expect(card.locator("img.qr")).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    width = await card.locator("img.qr").evaluate("img => img.decode().then(() => img.naturalWidth)")
    assert width > 0, "the QR image did not load"
    assert "token=" not in page.url
    await screenshot(page, "my-orders-phone")
    await page.get_by_role("button", name="大字").click()
    await expect(page.locator("html")).to_have_class("big")


async def test_a_resident_moves_her_order_to_another_point_before_it_arrives(server: ServerProcess,
                                                                           new_page: NewPage) -> None:
    """While the order is on its way she picks the locker and taps 换到这里: the card names the locker."""
    api, _, oid = await _grabbed(server, "li", "李建国")
    try:
        await api.ok("PATCH", f"/api/me/orders/{oid}", token("li"), {"pickup_point_id": "p1"})
    finally:
        await _close(api)
    page = await new_page(viewport=PHONE, locale="zh-CN")
    await page.goto(f"{server.url}/orders?token={token('li')}")
    card = page.locator("section.order").first
    await expect(card.locator(".state")).to_have_text("已下单，等送到自提点")
    await expect(card).to_contain_text("仁和药房")
    await card.locator(".move select").select_option("p2")
    await card.get_by_role("button", name="换到这里").click()
    await expect(page.locator("#result")).to_have_text("已换好自提点")
    await expect(page.locator("section.order").first).to_contain_text("3号楼快递柜")


async def test_the_counter_confirms_a_code_and_shows_it_collected(server: ServerProcess, new_page: NewPage,
                                                                  screenshot: Screenshot) -> None:
    """The pharmacist sees what is due, presses 这批货到了, types a wrong code (a plain error), then the
    resident's code: her display name and orders show, 确认取货 collects, and the list empties."""
    api, sid, oid = await _grabbed(server, "zhao", "赵秀英")
    try:
        await api.ok("PATCH", f"/api/me/orders/{oid}", token("zhao"), {"pickup_point_id": "p1"})
        (order,) = [o for o in (await api.ok("GET", "/api/me/orders", token("zhao")))["orders"] if o["id"] == oid]
    finally:
        await _close(api)
    code = order["pickup_code"]
    page = await new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    await page.goto(f"{server.url}/pickup?token={STAFF}")
    await expect(page.locator("#point")).to_contain_text("仁和药房")
    due = page.locator(f"#due li[data-code='{code}']")
    await expect(due).to_contain_text("赵*英")
    await expect(due).to_contain_text("待送达")
    await page.locator("#deliveries button").first.click()
    await expect(page.locator("#result")).to_contain_text("已到货")
    await expect(due).to_contain_text("可取货")

    wrong = "000000" if code != "000000" else "111111"
    await page.locator("#code").fill(wrong)
    await page.get_by_role("button", name="确认取货").click()
    await expect(page.locator("#result")).to_have_text("没有这个取货码，请再核对一下")

    await page.locator("#code").fill(code)
    await expect(page.locator("#preview-name")).to_have_text("赵*英")
    await expect(page.locator("#preview-orders li")).to_have_text(["海鸭蛋 × 1"])
    await screenshot(page, "pickup-counter-phone")
    await page.get_by_role("button", name="确认取货").click()
    await expect(page.locator("#result")).to_have_text("已取货 ✓ 赵*英")
    await expect(page.locator("#collected li").first).to_have_text("赵*英：海鸭蛋 × 1")
    await expect(page.locator(f"#due li[data-code='{code}']")).to_have_count(0)

    # The same code again is told plainly.
    await page.locator("#code").fill(code)
    await page.get_by_role("button", name="确认取货").click()
    await expect(page.locator("#result")).to_have_text("这个码已经取过货了")
    del sid

