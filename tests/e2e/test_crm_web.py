"""A salesperson works an account without the API (issue 13): a company and a contact created
from the pages, a deal on the company moved through the board, an email written from the deal
with its recipient picked from the deal's contacts, the reply delivered to the Dovecot INBOX on
the deal and company pages, the search box answering while typing, axe on every new page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from inboxlink.services.crm import deals, record_pages
from tests.e2e.browser import Tab, screenshot
from tests.e2e.helpers import connect_via_service, new_login, sign_in
from tests.e2e.live_server import LiveServer
from tests.support.replies import make_reply

pytestmark = pytest.mark.browser


def axe_violations(page: Any) -> list[str]:
    """axe-core (the copy axe-playwright-python ships) on the page as it stands: rule ids violated."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in results.response["violations"]]


def test_work_an_account_from_company_and_deal_pages(
    tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    assert live.app is not None
    login = new_login("acct")
    caller, _inbox = connect_via_service(live, login, mail_server, provider_smtp, mail_user)
    page = tab.page
    sign_in(tab, login)
    domain = f"acme-{mail_user.email.split('@')[0]}.test"
    bob = f"bob@{domain}"

    page.get_by_role("link", name="Companies").click()
    form = page.locator("#new-company")
    form.get_by_label("Name").fill("Acme")
    form.get_by_label("Domain").fill(domain)
    form.get_by_role("button", name="Create company").click()
    expect(page.get_by_role("heading", name="Acme", level=1)).to_be_visible()
    company_url = page.url
    assert axe_violations(page) == []

    # A contact at the domain, created from the contacts page, joins Acme by itself.
    page.goto("/contacts")
    new = page.locator("#new-contact")
    new.get_by_label("Email address").fill(bob)
    new.get_by_label("Name").fill("Bob Buyer")
    new.get_by_role("button", name="Create contact").click()
    expect(page.locator(".record-facts")).to_contain_text("Acme")
    page.goto(company_url)
    expect(page.locator("#people-h").locator("..")).to_contain_text("Bob Buyer")

    # A deal from the company page; its contacts get Bob; the stage moves.
    page.get_by_label("New deal").fill("Acme pilot")
    page.get_by_role("button", name="Create deal").click()
    expect(page.get_by_role("heading", name="Acme pilot", level=1)).to_be_visible()
    page.get_by_label("Add a contact of Acme").select_option(label="Bob Buyer")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#people-h").locator("..")).to_contain_text("Bob Buyer")
    page.get_by_label("Stage", exact=True).first.select_option("proposal")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("[data-stage]")).to_have_text("Proposal")
    deal_url = page.url
    assert axe_violations(page) == []

    # Write email from the deal: the recipient is picked from the deal's contacts.
    page.get_by_role("link", name="Write email").click()
    page.get_by_role("checkbox", name="Bob Buyer").check()
    page.get_by_label("Subject").fill("Pilot proposal")
    page.get_by_label("Message").fill("Hi Bob, the proposal.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".email.is-out")).to_contain_text("the proposal")
    deal_id = int(deal_url.rsplit("/", 1)[1])

    def sent_email() -> dict[str, Any] | None:
        items = live.call(record_pages.record_emails(live.app.rt, caller, "deal", deal_id)).items
        return items[0] if items and items[0]["status"] == "sent" else None

    from tests.e2e.helpers import wait_until

    sent = wait_until(sent_email, timeout=30)
    _id, raw = make_reply(
        sender=f"Bob Buyer <{bob}>",
        to=mail_user.email,
        subject="Re: Pilot proposal",
        text="Looks good, send the contract.",
        in_reply_to=sent["message_id"],
        references=[sent["message_id"]],
    )
    mail_server.deliver(mail_user.email, raw)
    wait_until(
        lambda: len(live.call(record_pages.record_emails(live.app.rt, caller, "deal", deal_id)).items) == 2
    )
    page.goto(deal_url)
    expect(page.locator(".email.is-in")).to_contain_text("send the contract")
    screenshot(page, "deal-record")
    page.goto(company_url)
    expect(page.locator(".email.is-in")).to_contain_text("send the contract")
    expect(page.locator(".email.is-out")).to_contain_text("the proposal")
    screenshot(page, "company-record")
    assert axe_violations(page) == []

    # The board shows the deal under its stage.
    page.get_by_role("link", name="Deals").click()
    expect(page.locator(".board-col", has=page.locator("#col-proposal"))).to_contain_text("Acme pilot")
    screenshot(page, "deals-board", full_page=False)
    assert axe_violations(page) == []
    assert live.call(deals.get_deal(live.app.rt, caller, deal_id))["stage"] == "proposal"

    # The search box answers while typing: the company by domain, the email by subject.
    search = page.get_by_label("Global search")
    search.press_sequentially(domain[:8], delay=30)
    results = page.locator("#global-results")
    expect(results.get_by_role("link", name="Acme", exact=True)).to_be_visible()
    search.fill("")
    search.press_sequentially("pilot prop", delay=30)
    expect(results.get_by_role("link", name="Pilot proposal", exact=True)).to_have_attribute(
        "href", re.compile(r"^/contacts/\d+#email-")
    )
    assert axe_violations(page) == []
    assert tab.dialogs == []
