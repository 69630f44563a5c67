"""The OAuth buttons in a real browser: "Connect with Google" through the (FAKE) provider's authorize
page and back to /oauth/callback, the outcome on the settings page, a forged callback refused, and
"Reconnect with Google" after access was revoked. Dovecot and the provider SMTP are real."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Tab, screenshot
from tests.e2e.helpers import new_login, sign_in
from tests.e2e.live_server import LiveServer, _free_port
from tests.support.oauth import OAuthPeers

if not Path(CHROMIUM).exists():
    pytest.skip(f"Chromium is not installed at {CHROMIUM}", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")

from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _spki_pin(cert_file: str) -> str:
    """Chromium trusts exactly this certificate (the suite's CA, which the fake provider serves) via
    --ignore-certificate-errors-spki-list: a pin, not verification turned off."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def oauth_live(
    tmp_path_factory: pytest.TempPathFactory, oauth_setup: OAuthPeers, mail_server: Any
) -> Iterator[LiveServer]:
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = mail_server.ca_file
    port = _free_port()
    env = oauth_setup.env(INBOXLINK_PUBLIC_URL=f"http://127.0.0.1:{port}")
    server = LiveServer(tmp_path_factory.mktemp("e2e-oauth") / "data", env, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous


@pytest.fixture
def oauth_tab(oauth_live: LiveServer, mail_server: Any) -> Iterator[Tab]:
    from playwright.sync_api import sync_playwright

    pin = _spki_pin(mail_server.ca_file)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pin}"],
            headless=True,
        )
        context = chromium.new_context(base_url=oauth_live.base_url, viewport={"width": 1280, "height": 880})
        context.set_default_timeout(20_000)
        try:
            yield Tab(context.new_page())
        finally:
            context.close()
            chromium.close()


def test_connect_with_google_callback_page_and_reconnect(
    oauth_tab: Tab, oauth_live: LiveServer, oauth_setup: OAuthPeers
) -> None:
    peers = oauth_setup
    login = new_login("olga")
    oauth_live.user(login, "Olga Owner")
    page = oauth_tab.page
    sign_in(oauth_tab, login)
    page.goto("/settings")
    google = page.get_by_role("button", name="Connect with Google")
    expect(google).to_be_visible()
    expect(page.get_by_role("button", name="Connect with Microsoft")).to_be_visible()
    expect(page.get_by_label("Email provider")).to_contain_text("Yahoo Mail — app password")

    address = peers.new_mailbox()
    peers.fake.approve_as = address
    google.click()  # → "Continue to Google" → the provider approves → /oauth/callback → /settings
    expect(page).to_have_url(re.compile(r"/settings\?oauth=\d+"))
    expect(page.get_by_role("status").filter(has_text="Inbox connected.")).to_contain_text(address)
    card = page.locator("article.inbox", has_text=address)
    expect(card.get_by_text("Google (OAuth)")).to_be_visible()
    expect(card.get_by_text("Connected", exact=True)).to_be_visible()
    expect(card.get_by_label(re.compile("Current password"))).to_have_count(0)  # no password field
    screenshot(page, "oauth-connected", full_page=False)

    # A callback inboxlink did not start (forged, or a stale link) saves nothing and says so.
    page.goto("/oauth/callback?code=stolen&state=not-ours")
    expect(page.get_by_role("alert").filter(has_text="Nothing was saved.")).to_contain_text(
        "not one inboxlink started"
    )

    # Access withdrawn at Google: the next login notices; the card offers the same flow again.
    peers.fake.revoke_user(address)
    peers.mail.kick(address)
    page.goto("/settings")
    reconnect = card.get_by_role("button", name="Reconnect with Google")
    for _ in range(60):  # the monitor notices within seconds; the page shows it after a reload
        if card.get_by_text("Disconnected", exact=True).count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(card.get_by_text("Disconnected", exact=True)).to_be_visible()
    expect(card).to_contain_text("Access to the mailbox was revoked")
    reconnect.click()
    expect(page.get_by_role("status").filter(has_text="Inbox reconnected.")).to_be_visible()
    expect(card.get_by_text("Connected", exact=True)).to_be_visible()
