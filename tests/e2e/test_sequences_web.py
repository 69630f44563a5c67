"""Sequences from the pages (issue 16): a sequence written on /sequences, a contact enrolled from
their record ("Enroll in sequence"), the enrolment's status and history on the record and on the
sequence's page, unenrolled from there; a second enrolment refused with a sentence; axe on each
new page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from inboxlink.services.mail import templates
from tests.e2e.browser import Tab
from tests.e2e.helpers import connect_via_service, new_login, sign_in
from tests.e2e.live_server import LiveServer
from tests.e2e.test_crm_web import axe_violations

pytestmark = pytest.mark.browser


def test_enroll_a_contact_from_the_contact_page(
    tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    login = new_login("seq")
    caller, _inbox = connect_via_service(live, login, mail_server, provider_smtp, mail_user)
    assert live.app is not None
    live.call(
        templates.create_template(
            live.app.rt,
            caller,
            {"name": "Gentle nudge", "subject": "x", "text": "Hi {{ contact.first_name }}"},
        )
    )
    page = tab.page
    sign_in(tab, login)

    page.get_by_role("link", name="Sequences").click()
    expect(page.get_by_role("heading", name="Sequences", level=1)).to_be_visible()
    assert axe_violations(page) == []
    form = page.locator("#new-sequence")
    form.get_by_label("Name").fill("After the demo")
    form.get_by_label("Time zone").fill("Europe/Berlin")
    form.locator("#subject-0").fill("Our demo")
    form.locator("#text-0").fill("Hi, thanks for your time today.")
    form.get_by_label("Template").nth(1).select_option(label="Gentle nudge")
    form.get_by_role("button", name="Create sequence").click()
    expect(page.get_by_role("heading", name="After the demo", level=1)).to_be_visible()
    expect(page.locator("#steps li")).to_have_count(2)
    expect(page.locator("#steps")).to_contain_text("as a reply in the same thread")
    expect(page.locator("#steps li").nth(1)).to_contain_text("template “Gentle nudge”")
    sequence_url = page.url
    assert axe_violations(page) == []

    page.goto("/contacts")
    new = page.locator("#new-contact")
    new.get_by_label("Email address").fill(f"pat-{login.split('@')[0]}@prospect.test")
    new.get_by_label("Name").fill("Pat Prospect")
    new.get_by_role("button", name="Create contact").click()
    section = page.locator("#sequences")
    expect(section).to_contain_text("Not in any sequence")
    section.get_by_label("Sequence").select_option(label="After the demo")
    section.get_by_role("button", name="Enroll in sequence").click()
    enrolment = page.locator("[data-enrolment-status]")
    expect(enrolment).to_have_attribute("data-enrolment-status", "active")
    expect(enrolment).to_contain_text("After the demo")
    enrolment.locator("summary").click()
    expect(enrolment.locator("[data-history-kind=enrolled]")).to_be_visible()
    assert axe_violations(page) == []

    # Enrolled twice at once: refused, in words.
    section.get_by_role("button", name="Enroll in sequence").click()
    expect(page.locator("#enrol-error")).to_have_text("This contact is already enrolled in that sequence.")
    expect(page.locator("[data-enrolment-status]")).to_have_count(1)

    page.goto(sequence_url)
    row = page.locator("#enrolments tbody tr")
    expect(row).to_contain_text("pat-")
    expect(row).to_have_attribute("data-enrolment-status", "active")
    row.get_by_role("button", name="Unenroll").click()
    expect(page.locator("#enrolments tbody tr")).to_have_attribute("data-enrolment-status", "stopped")
    expect(page.locator("#enrolments")).to_contain_text("Unenrolled by hand")
    assert axe_violations(page) == []
