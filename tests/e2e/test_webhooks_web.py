"""Settings → Webhooks in a real Chromium (issue 17): an admin adds an endpoint (a real HTTP
receiver on loopback), sees its secret once, sends a test event that the receiver gets signed,
sees a failing receiver's delivery marked failed with its answer and retries it from the page;
a non-admin gets no such page. axe-core finds nothing serious or critical."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from standardwebhooks import Webhook

from inboxlink.services.accounts import webhook_delivery  # noqa: F401  (registers the job handler)
from inboxlink.services.accounts.users import create_user
from inboxlink.services.platform.jobs import JobRunner
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Tab, screenshot
from tests.e2e.helpers import new_login, sign_in
from tests.e2e.live_server import PASSWORD, LiveServer
from tests.support.receiver import Receiver

pytestmark = pytest.mark.browser

ENV = {
    "INBOXLINK_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on loopback, over http
    "INBOXLINK_WEBHOOK_RETRY_BASE": "0.05",
    "INBOXLINK_WEBHOOK_RETRY_WINDOW": "1",  # a failing delivery is `failed` after a second
    "INBOXLINK_JOBS_POLL": "0.1",
}


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The served app with the job runner that delivers webhooks, as `serve` runs it."""
    server = LiveServer(tmp_path_factory.mktemp("e2e-webhooks") / "data", env=ENV)
    server.start()
    assert server.app is not None
    runner = JobRunner(server.app.rt)

    async def start() -> asyncio.Task[None]:
        return asyncio.create_task(runner.run())

    task = server.call(start())
    try:
        yield server
    finally:

        async def stop() -> None:
            runner.stop()
            await asyncio.wait_for(task, 15)

        server.call(stop())
        server.stop()


@pytest.fixture
def hooks_tab(browser: Any, hooked: LiveServer) -> Iterator[Tab]:
    context = browser.new_context(base_url=hooked.base_url, viewport={"width": 1280, "height": 880})
    context.set_default_timeout(15_000)
    try:
        yield Tab(context.new_page())
    finally:
        context.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def serious_axe_violations(page: Any) -> list[str]:
    """axe-core (the copy axe-playwright-python ships): the serious and critical rules violated."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def reload_until(page: Any, selector: str, timeout: float = 20.0) -> Any:
    """The page does not refresh itself: reload until `selector` is there."""
    deadline = time.monotonic() + timeout
    while page.locator(selector).count() == 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} not on the page within {timeout}s")
        page.wait_for_timeout(200)
        page.reload()
    return page.locator(selector)


def test_admin_adds_an_endpoint_tests_it_and_retries_a_failure(
    hooks_tab: Tab, hooked: LiveServer, receiver: Receiver
) -> None:
    assert hooked.app is not None
    login = new_login("hooks")
    hooked.call(create_user(hooked.app.rt, login, PASSWORD, name="Ada Admin", admin=True))
    page = hooks_tab.page
    sign_in(hooks_tab, login)
    page.goto("/settings")
    page.get_by_role("link", name="Manage webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    assert serious_axe_violations(page) == []

    page.get_by_label("URL (https)").fill(receiver.url)
    page.get_by_label("inbox.reconnected").uncheck()
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator("#webhook-created")).to_contain_text("shown only now")
    secret = page.locator("#webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    endpoint = page.locator("section.card", has=page.get_by_role("heading", name=receiver.url))
    expect(endpoint).to_contain_text("email.logged, email.sent, email.failed, inbox.disconnected")
    expect(endpoint).not_to_contain_text("inbox.reconnected")
    expect(endpoint).to_contain_text("No deliveries yet.")

    endpoint.get_by_role("button", name="Send test event").click()
    expect(page.locator("#test-sent")).to_be_visible()
    row = reload_until(page, 'tr[data-delivery-status="delivered"]')
    expect(row).to_contain_text("webhook.test")
    expect(row).to_contain_text("HTTP 200")
    assert page.locator("#webhook-secret").count() == 0  # the secret was shown once
    assert secret not in page.content()
    (got,) = receiver.requests
    payload = Webhook(secret).verify(got.body, got.headers)  # signed the Standard Webhooks way
    assert payload["type"] == "webhook.test"
    assert serious_axe_violations(page) == []

    # The receiver fails: after the retry window the delivery is `failed`, with the answer shown.
    receiver.default = 500
    endpoint.get_by_role("button", name="Send test event").click()
    failed = reload_until(page, 'tr[data-delivery-status="failed"]')
    expect(failed).to_contain_text("the receiver answered HTTP 500")
    screenshot(page, "webhooks-settings")
    assert serious_axe_violations(page) == []
    receiver.default = 200
    failed.get_by_role("button", name="Retry").click()
    expect(page.locator('tr[data-delivery-status="failed"]')).to_have_count(0, timeout=1)
    reload_until(page, 'tr[data-delivery-status="delivered"] >> nth=1')
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert [r.answered for r in receiver.requests][-1] == 200 and ids[-1] == ids[1]  # same id again
    assert len(set(ids)) == 2


def test_a_seller_has_no_webhooks_page(hooks_tab: Tab, hooked: LiveServer) -> None:
    login = new_login("seller")
    hooked.user(login, "Sam Seller")
    page = hooks_tab.page
    sign_in(hooks_tab, login)
    page.goto("/settings")
    expect(page.get_by_role("link", name="Manage webhooks")).to_have_count(0)
    response = page.goto("/settings/webhooks")
    assert response is not None and response.status == 404
    assert "Add webhook" not in page.content()
