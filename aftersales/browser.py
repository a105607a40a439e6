"""The console in a real browser: Debian's chromium driven by Playwright (no browser is downloaded).

Used by the browser tests (tests/browser) and `aftersales screenshots`. `./dev test` installs
`chromium`, `chromium-driver` and `fonts-noto-cjk` with apt-get when they are missing; another chromium
can be named with `AFTERSALES_CHROMIUM`. Playwright is a development dependency (`pip install -e .[dev]`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Route, WebSocket

CJK_FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
)
DEBIAN_PACKAGES = ("chromium", "chromium-driver", "fonts-noto-cjk")
LOCAL_SCHEMES = ("data:", "blob:", "about:")


def chromium_path() -> str:
    return os.environ.get("AFTERSALES_CHROMIUM", "/usr/bin/chromium")


def missing() -> str | None:
    """Why the console cannot be driven in a browser here, or None if it can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[dev]' or ./dev test)"
    path = chromium_path()
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        return f"no chromium at {path} (Debian: apt-get install {' '.join(DEBIAN_PACKAGES)}; ./dev test does it)"
    return None


def cjk_font_installed() -> bool:
    return any(p.exists() for p in CJK_FONT_FILES) or bool(shutil.which("fc-list") and _fc_list_has_cjk())


def _fc_list_has_cjk() -> bool:
    import subprocess

    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return "CJK" in out


@dataclass
class OriginGuard:
    """Records every request a browser context makes; anything not to `origin` is aborted and kept
    in `outside` (the console must load every script, style and font from its own server)."""

    origin: str
    requests: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    checked: bool = False

    def allowed(self, url: str) -> bool:
        if url.startswith(LOCAL_SCHEMES):
            return True
        parts = urlsplit(url)
        mine = urlsplit(self.origin)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        return (scheme, parts.netloc) == (mine.scheme, mine.netloc)

    async def attach(self, context: BrowserContext) -> None:
        async def route(route: Route, request: Request) -> None:
            self.requests.append(request.url)
            if self.allowed(request.url):
                await route.continue_()
            else:
                self.outside.append(request.url)
                await route.abort("blockedbyclient")

        def websocket(ws: WebSocket) -> None:
            self.requests.append(ws.url)
            if not self.allowed(ws.url):
                self.outside.append(ws.url)

        def console_message(message: ConsoleMessage) -> None:
            # The server's Content-Security-Policy makes the browser refuse an outside load before it
            # is requested: the refusal is reported on the console, and counts as an outside request.
            if "Content Security Policy" in message.text:
                self.outside.append(f"refused by the Content-Security-Policy: {message.text}")

        def watch(page: Page) -> None:
            page.on("websocket", websocket)
            page.on("console", console_message)

        await context.route("**/*", route)
        context.on("page", watch)

    def assert_same_origin(self) -> None:
        self.checked = True
        assert not self.outside, f"requests outside {self.origin}: {self.outside}"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Debian chromium, Chinese locale."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        args = ["--disable-gpu", "--lang=zh-CN", "--font-render-hinting=none"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # chromium refuses to run its sandbox as root (containers, CI)
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=args, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def guarded_context(
    browser: Browser, origin: str, width: int = 1366, height: int = 900, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[BrowserContext, OriginGuard]]:
    """A fresh context (zh-CN, China time, 1366×900) whose requests an OriginGuard records; `headers`
    go with every request (e.g. the `Authorization` of a logged-in person)."""
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", extra_http_headers=headers,
                                        viewport={"width": width, "height": height})  # fmt: skip
    guard = OriginGuard(origin)
    await guard.attach(context)
    try:
        yield context, guard
    finally:
        await context.close()
