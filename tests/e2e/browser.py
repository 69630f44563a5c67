"""Headless Debian Chromium for the browser tests: launch flags, a page that records dialogs, and
screenshots. Every run saves them under .test-artifacts/screenshots; with
INBOXLINK_UPDATE_SCREENSHOTS=1 they go to docs/screenshots (the set the README shows) instead, so an
ordinary test run never rewrites tracked files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = (
    _ROOT / "docs" / "screenshots"
    if os.environ.get("INBOXLINK_UPDATE_SCREENSHOTS") == "1"
    else _ROOT / ".test-artifacts" / "screenshots"
)


class Tab:
    """A browser page plus every dialog (alert/confirm/prompt) it raised."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    viewport = page.viewport_size
    if full_page:
        # A window as tall as the page rather than Playwright's full_page capture: email frames are
        # sandboxed (out-of-process) and would be left blank below the fold, and the sticky nav
        # would be drawn wherever the page happened to be scrolled.
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": viewport["width"], "height": height})
        page.wait_for_timeout(250)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    if full_page:
        page.set_viewport_size(viewport)
