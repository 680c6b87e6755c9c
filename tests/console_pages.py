"""What the console's browser tests share: Debian's headless Chromium, sign-in, and the screenshots docs/ shows.

With GENAI_FLOW_CONSOLE_SHOTS=<dir> the tests also write screenshots of every page (laptop and 390 px wide) there:
docs/console/ holds the ones docs/console.md shows.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from tests.conftest import GatewayUnderTest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SHOTS = os.environ.get("GENAI_FLOW_CONSOLE_SHOTS")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium (never `playwright install`: the system's browser)."""
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def shoot(page: Page, name: str, widths: tuple[str, ...] = ("laptop", "phone")) -> None:
    """Screenshots of the current page at laptop and phone width (only when GENAI_FLOW_CONSOLE_SHOTS is set)."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    sizes: dict[str, ViewportSize] = {"laptop": LAPTOP, "phone": PHONE}
    for label in widths:
        await page.set_viewport_size(sizes[label])
        await page.screenshot(path=f"{SHOTS}/{name}-{label}.png", full_page=True)
    await page.set_viewport_size(LAPTOP)


async def signed_in(browser: Browser, gw: GatewayUnderTest, key: str) -> tuple[BrowserContext, Page]:
    """A browser context signed into the console with `key` through the sign-in form."""
    context = await browser.new_context(base_url=gw.url, viewport=LAPTOP)
    page = await context.new_page()
    await page.goto("/ui/jobs")
    assert "/ui/login" in page.url
    await page.fill("input[name=api_key]", key)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/ui/jobs")
    return context, page
