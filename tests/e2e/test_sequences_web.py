"""Sequences from the pages (issue 16): a sequence written on /sequences, a contact enrolled from
their record ("Enroll in sequence"), the enrolment's status and history on the record and on the
sequence's page, unenrolled from there; a second enrolment refused with a sentence; axe on each
new page. A sequence edited from its page, at desktop width and at 375 px: a step's text and
delay changed (a bad delay first: said under the field, the summary focused), saved, shown."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from inboxlink.services.crm import contacts
from inboxlink.services.mail import sequence_enrolments, sequences, templates
from tests.e2e.browser import Tab
from tests.e2e.helpers import connect_via_service, new_login, sign_in
from tests.e2e.live_server import LiveServer
from tests.e2e.test_crm_web import axe_violations
from tests.e2e.test_day_web import PHONE, serious_axe

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


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 880}, PHONE], ids=["desktop", "375px"])
def test_edit_a_sequence_from_its_page(
    tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any, viewport: dict[str, int]
) -> None:
    login = new_login("seqedit")
    caller, inbox = connect_via_service(live, login, mail_server, provider_smtp, mail_user)
    assert live.app is not None
    rt = live.app.rt
    steps = [
        {"subject": "Our demo", "text": "Thanks for your time today.", "delay_days": 2},
        {"text": "Any questions?", "delay_days": 2, "same_thread": True},
    ]
    made = live.call(sequences.create_sequence(rt, caller, {"name": "After the demo", "steps": steps}))
    contact = live.call(
        contacts.create_contact(rt, caller, {"email": f"pat-{login.split('@')[0]}@prospect.test"})
    )
    live.call(sequence_enrolments.enrol_contacts(rt, caller, int(made["id"]), inbox["id"], [contact["id"]]))
    page = tab.page
    page.set_viewport_size(viewport)
    sign_in(tab, login)

    page.goto(f"/sequences/{made['id']}")
    page.get_by_role("link", name="Edit sequence").click()
    expect(page.get_by_role("heading", name="Edit sequence", level=1)).to_be_visible()
    expect(page.locator("#active-enrolments")).to_contain_text("Active enrolments carry on where they are")
    expect(page.locator("#text-1")).to_have_value("Any questions?")
    assert serious_axe(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    page.locator("#text-1").fill("Did the pricing make sense?")
    page.locator("#delay-1").fill("-1")
    page.get_by_role("button", name="Save sequence").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(page.locator("#delay-1-error")).to_have_text(
        "Enter a whole number of business days from 0 to 365."
    )
    expect(page.locator("#delay-1")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#text-1")).to_have_value("Did the pricing make sense?")  # kept
    assert serious_axe(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    page.locator("#delay-1").fill("4")
    page.get_by_role("button", name="Save sequence").click()
    expect(page.get_by_role("heading", name="After the demo", level=1)).to_be_visible()
    expect(page.locator("#sequence-saved")).to_have_text("Sequence saved.")
    second = page.locator("#steps li").nth(1)
    expect(second).to_contain_text("Did the pricing make sense?")
    expect(second).to_contain_text("4 business days after the previous step")
    expect(page.locator("#steps li")).to_have_count(2)
