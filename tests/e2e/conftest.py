"""Fixtures for the browser tests: the live app on a loopback port and a headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Tab
from tests.e2e.live_server import LiveServer


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, mail_server: Any, provider_smtp: Any
) -> Iterator[LiveServer]:
    # Module scope, so no monkeypatch: trust the peers' CA the way `trust_test_ca` does.
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = mail_server.ca_file
    server = LiveServer(tmp_path_factory.mktemp("e2e") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser: Any, live: LiveServer) -> Iterator[Tab]:
    context = browser.new_context(
        base_url=live.base_url, viewport={"width": 1280, "height": 880}, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    try:
        yield Tab(context.new_page())
    finally:
        context.close()
