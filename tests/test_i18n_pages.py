"""Every page in English and in Chinese, and in large text on a 360 px phone (Debian's chromium).

One `linli serve --demo` (a community's whole week, so every page has something to say), one browser,
the pages visited in turn, each as the demo person who uses it: switch to English, read the page
(no Chinese left but the names the data gives), switch back to Chinese; then large text in English,
where the words are longest, must not make the page wider than the phone.
"""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser import PHONE, scroll_width
from tests.live import SECRET
from tests.servers import ServerProcess, linli_env, start_linli

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
DEMO = Path(__file__).parent.parent / "linli" / "demo.py"


def data_words() -> list[str]:
    """What the demo's data says in Chinese (names, products, units, titles, places), longest first:
    pages show these as they are in any language."""
    words = {node.value for node in ast.walk(ast.parse(DEMO.read_text(encoding="utf-8")))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and CJK.search(node.value)}
    # A template's pieces ("{name} 的心愿") are words of the data too, one piece at a time.
    pieces = {p.strip() for w in words for p in re.split(r"\{[^}]*\}|[\s\d.,:;()/+×x*-]+", w) if CJK.search(p)}
    return sorted(words | pieces, key=len, reverse=True)


def chinese_left(text: str, words: list[str]) -> list[str]:
    """The runs of Chinese in `text` once the data's words and masked names (王*香) are taken out."""
    text = re.sub(r"[\u4e00-\u9fff]\*+[\u4e00-\u9fff]?", " ", text)
    for w in words:
        text = text.replace(w, " ")
    return re.findall(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+[^\n]{0,20}", text)


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[ServerProcess, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("i18n-pages")
    proc = await start_linli(["serve", "--demo"], linli_env(tmp / "var", LINLI_SECRET=SECRET), tmp / "serve.log",
                             healthy_within_s=60)
    async with aiohttp.ClientSession() as http, http.get(proc.url + "/api/demo") as resp:
        assert resp.status == 200
        people = await resp.json()
    yield proc, people
    proc.stop()


async def signed_in(browser: Browser, tok: str, errors: list[str], locale: str = "zh-CN") -> BrowserContext:
    """A phone's browser in ``locale`` signed in as `tok` (unless a page signs in as someone else); any uncaught
    error of its pages is recorded."""
    context = await browser.new_context(viewport=PHONE, locale=locale)
    await context.add_init_script(f"location.protocol === 'http:' && !localStorage.getItem('linli-token')"
                                  f" && localStorage.setItem('linli-token', {tok!r})")
    context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}")))
    return context


async def visible_text(page: Page) -> str:
    """The page's title and what it shows, but for the language switch (which names the other language in its words)."""
    return str(await page.evaluate("""() => {
        const body = document.body.cloneNode(true);
        body.querySelector('#lang')?.remove();
        document.body.append(Object.assign(document.createElement('div'), { id: 'i18n-probe' }));
        const probe = document.getElementById('i18n-probe');
        probe.append(...body.childNodes);
        const text = probe.innerText;
        probe.remove();
        return document.title + '\\n' + text;
    }"""))


async def settle(page: Page) -> None:
    """The page has loaded what it shows (no '正在加载…' / 'Loading…' left)."""
    await page.wait_for_load_state("networkidle")
    await expect(page.locator("body")).not_to_contain_text(re.compile("正在加载…|Loading…"), timeout=10_000)


async def test_every_page_switches_to_english_and_back_and_takes_large_text(
        demo: tuple[ServerProcess, dict[str, Any]], browser: Browser) -> None:
    server, people = demo
    who = {p["user_id"]: p for p in people["people"]}
    sid = people["session_id"]
    wishes = next(link["url"] for link in who["wang-ayi"]["links"] if link["url"].startswith("/wishes/"))
    pages = [("wang-ayi", "/"), ("wang-ayi", f"/live/{sid}"), ("wang-ayi", wishes), ("wang-ayi", "/orders"),
             ("wang-ayi", "/points"), ("wang-ayi", "/activity"), ("wang-ayi", "/fund/demo"),
             ("wang-ayi", "/draws/no-such-bag"), ("demo-host", f"/host?session={sid}"), ("demo-grid", "/grid"),
             ("demo-renhe", "/pickup"), ("demo-farm", "/supplier"), ("demo-admin", "/office")]
    words = data_words()
    errors: list[str] = []
    contexts: dict[str, BrowserContext] = {}
    problems: list[str] = []
    try:
        for user, path in pages:
            if user not in contexts:
                contexts[user] = await signed_in(browser, who[user]["token"], errors)
            page = await contexts[user].new_page()
            await page.goto(server.url + path)
            await settle(page)
            assert await page.evaluate("document.documentElement.lang") == "zh-CN", path
            assert CJK.search(await visible_text(page)), path

            if not await page.locator("#lang").count() or not await page.locator("#big-text").count():
                problems.append(f"{path} has no language or large-text switch")
                await page.close()
                continue
            await page.locator("#lang").click()
            await expect(page.locator("html")).to_have_attribute("lang", "en")
            await expect(page.locator("#lang")).to_have_text("中文")
            await settle(page)
            for _ in range(50):  # what the page redraws after the switch may wait for the server
                left = chinese_left(await visible_text(page), words)
                if not left:
                    break
                await page.wait_for_timeout(100)
            if left:
                problems.append(f"{path} in English still says: {left}")

            # Large text in English on the phone: nothing wider than the screen.
            await page.locator("#big-text").click()
            await expect(page.locator("html")).to_have_class(re.compile(r"\bbig\b"))
            width = await scroll_width(page)
            if width > PHONE["width"]:
                wide = await page.evaluate("""() => [...document.querySelectorAll('body *')]
                    .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
                    .slice(0, 3).map((e) => `${e.tagName}#${e.id}.${e.className}: ${e.textContent.slice(0, 30)}`)""")
                problems.append(f"{path} in large text is {width} px wide: {wide}")
            await page.locator("#big-text").click()
            await expect(page.locator("html")).not_to_have_class(re.compile(r"\bbig\b"))

            # The choice is kept: a reload stays English; the switch brings Chinese back.
            await page.reload()
            await settle(page)
            await expect(page.locator("html")).to_have_attribute("lang", "en")
            await page.locator("#lang").click()
            await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            await expect(page.locator("#lang")).to_have_text("EN")
            assert CJK.search(await visible_text(page)), path
            await page.close()
    finally:
        for context in contexts.values():
            await context.close()
    assert not problems and not errors, "\n".join([*problems, "JavaScript errors:", *errors])


async def test_a_browser_that_asks_for_english_gets_english_and_a_refusal_reads_in_it(
        demo: tuple[ServerProcess, dict[str, Any]], browser: Browser) -> None:
    """No choice made yet: the browser's language decides (English here); a server refusal is shown
    from its code in that language, not as the server's Chinese or a raw code."""
    server, people = demo
    errors: list[str] = []
    wang = next(p for p in people["people"] if p["user_id"] == "wang-ayi")
    context = await signed_in(browser, wang["token"], errors, locale="en-GB")
    try:
        page = await context.new_page()
        await page.goto(server.url + "/supplier")  # a resident on the supplier board: not hers
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("h1")).to_have_text("Supplier board · total demand")
        await expect(page.locator("#status")).to_have_text("Could not load: You are not allowed to do that.")
        await page.goto(server.url + "/wishes/no-such-window")
        await expect(page.locator("#status")).to_contain_text("No such wish window.")
    finally:
        await context.close()
    assert not errors, errors
