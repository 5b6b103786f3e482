"""Headless Chromium (Debian's, driven by Playwright) on a Jupyter server of tests/servers.py:
every request carries the server's token, and a request to any other host is blocked and
recorded, as are uncaught errors, console messages and dialogs."""

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
PAGE_TIMEOUT_MS = 60_000


@dataclass
class Seen:
    """What a page did besides showing itself."""

    blocked: list = field(default_factory=list)  # requests to another host
    errors: list = field(default_factory=list)  # uncaught exceptions
    console: list = field(default_factory=list)  # console messages, every type
    dialogs: list = field(default_factory=list)  # alert(), confirm(), prompt()


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser, closed on leaving."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -r requirements.txt")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def server_page(browser, server, seen: Seen):
    """A page in a fresh context that sends the server's token with every request, lets through
    only requests to the server, and records the rest in `seen`. Returns (context, page)."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        extra_http_headers={"Authorization": f"token {server.token}"},
    )

    def route(request_route):
        if request_route.request.url.startswith((server.url, "data:", "about:")):
            request_route.continue_()
        else:
            seen.blocked.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("console", lambda message: seen.console.append(f"{message.type}: {message.text}"))

    def dialog(opened):
        seen.dialogs.append(f"{opened.type}: {opened.message}")
        opened.dismiss()

    page.on("dialog", dialog)
    return context, page
