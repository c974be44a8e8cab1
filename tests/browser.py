"""The page tests' browser, pages, server and screenshots (Debian's chromium driven by Playwright).

Registered for every test through ``pytest_plugins`` in tests/conftest.py; a test uses them by naming them:

- ``browser``: Debian's chromium (never a downloaded browser), one per test module.
- ``new_page``: opens a page in a fresh browser context (``await new_page(viewport=PHONE, locale="zh-CN")``);
  the test fails if any page it opened raised a JavaScript error or logged a console error that was not
  expected. A page may name the URLs whose refusals it is meant to cause (``refused=("/fund/spending",)``);
  a module whose pages cause others says so by overriding ``expected_console_error``.
- ``screenshot``: ``await screenshot(page, "live-room-phone")`` takes a full-page picture, into a temporary
  folder unless asked for: ``LINLI_SCREENSHOTS=1`` rewrites the README's pictures in docs/screenshots,
  ``LINLI_SCREENSHOTS=<folder>`` writes them there.
- ``server``: a ``linli serve`` for the test module (SQLite and its own Redis under a temporary folder). A
  module that needs more overrides it, and may build on this one by naming ``server`` as its argument.

And helpers: ``signed_in`` (a page signed in by a token kept on the browser, as the front page does it),
``scroll_width`` (how wide a page has drawn itself), ``server_data_dir`` and the viewport sizes ``PHONE`` and
``LAPTOP``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize, async_playwright, expect

from tests.live import SECRET
from tests.servers import ServerProcess, linli_env, start_linli

README_SCREENSHOTS = Path(__file__).parent.parent / "docs" / "screenshots"
PHONE = ViewportSize(width=360, height=740)
LAPTOP = ViewportSize(width=1280, height=900)

Screenshot = Callable[[Page, str], Awaitable[None]]
NewPage = Callable[..., Awaitable[Page]]
ConsoleErrorCheck = Callable[[ConsoleMessage], bool]

# Playwright's 5 s for an expectation is a click-to-paint budget a shared, loaded machine overruns now and
# then; a met expectation returns at once, so only a failing one waits the longer 15 s.
expect.set_options(timeout=15_000)

# Flags for a browser in a container: no sandbox or GPU, and none of its own traffic to the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    """Debian's chromium binary: the page tests drive it, never a browser Playwright downloads."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed for the page tests (apt-get install chromium)"
    return path


def server_data_dir(server: ServerProcess) -> Path:
    """LINLI_DATA of a server started by the ``server`` fixture (its SQLite file is ``linli.db`` there)."""
    return server.log.parent / "var"


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory,
                 request: pytest.FixtureRequest) -> AsyncIterator[ServerProcess]:
    """A ``linli serve`` of its own for the test module, stopped after it."""
    tmp = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    proc = await start_linli(["serve"], linli_env(tmp / "var", LINLI_SECRET=SECRET), tmp / "serve.log")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, for the test module."""
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
def screenshot(tmp_path: Path) -> Screenshot:
    """Take a full-page picture named ``<name>.png``; into the tree only when LINLI_SCREENSHOTS asks."""
    wanted = os.environ.get("LINLI_SCREENSHOTS", "")
    folder = tmp_path if wanted in ("", "0") else README_SCREENSHOTS if wanted == "1" else Path(wanted)
    folder.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str) -> None:
        await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def expected_console_error() -> ConsoleErrorCheck:
    """Which console errors the module's pages are meant to log: by default none (every page names its
    (empty) icon, so the browser asks for no /favicon.ico). A module overrides this to allow its own."""
    return lambda msg: False


@pytest.fixture
async def new_page(browser: Browser, expected_console_error: ConsoleErrorCheck) -> AsyncIterator[NewPage]:
    """Open pages in fresh browser contexts; the test fails if any of them raises a JavaScript error or logs
    a console error that is not expected.

    ``await new_page(refused=("/api/x",), **context_options)``: ``refused`` names parts of URLs whose
    refusals the test means to cause (the browser logs each as a failed resource); from then on a console
    error from such a URL is expected, on any page of the test."""
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    refusals: list[str] = []

    def console(page: Page, msg: ConsoleMessage) -> None:
        source = msg.location.get("url", "")
        if msg.type != "error" or expected_console_error(msg) or any(part in source for part in refusals):
            return
        errors.append(f"{page.url}: console: {msg.text} ({source})")

    async def open_page(*, refused: tuple[str, ...] = (), **options: Any) -> Page:
        refusals.extend(refused)
        context = await browser.new_context(**options)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: console(page, msg))
        return page

    yield open_page
    for context in contexts:
        await context.close()
    assert not errors, "JavaScript errors:\n" + "\n".join(errors)


async def signed_in(new_page: NewPage, server: ServerProcess, token: str, path: str, **options: Any) -> Page:
    """A page signed in with ``token``, kept on the browser as the front page does (never in a link), opened at
    ``path``; a phone in Chinese unless ``options`` (the context's) say otherwise."""
    page = await new_page(**{"locale": "zh-CN", **(options or {"viewport": PHONE, "device_scale_factor": 2})})
    await page.goto(f"{server.url}/static/live.css")  # the origin, so its storage can be set
    await page.evaluate("t => localStorage.setItem('linli-token', t)", token)
    await page.goto(server.url + path)
    return page


async def scroll_width(page: Page) -> int:
    """How wide the page has drawn itself in CSS pixels (wider than the viewport: it scrolls sideways)."""
    return int(await page.evaluate("document.documentElement.scrollWidth"))
