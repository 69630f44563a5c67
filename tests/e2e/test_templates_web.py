"""Templates, snippets and Send later in the browser (issue 16): a template written in the editor
with the token picker and previewed live for a chosen contact; in the composer a template and a
#shortcut snippet inserted and the email scheduled with the date-time picker, shown as scheduled on
the timeline and cancelled from there; axe on the new pages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from inboxlink.services.crm import contacts, records
from tests.e2e.browser import Tab, screenshot
from tests.e2e.helpers import connect_via_service, new_login, sign_in
from tests.e2e.live_server import LiveServer
from tests.e2e.test_crm_web import axe_violations

pytestmark = pytest.mark.browser


def test_write_a_template_preview_it_and_send_it_later(
    tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    assert live.app is not None
    login = new_login("tpl")
    caller, _inbox = connect_via_service(live, login, mail_server, provider_smtp, mail_user)
    zoe = live.call(
        contacts.create_contact(
            live.app.rt, caller, {"email": "zoe@prospect-tpl.test", "name": "Zoë van Dijk"}
        )
    )
    live.call(contacts.create_contact(live.app.rt, caller, {"email": "anon@prospect-tpl.test"}))
    page = tab.page
    sign_in(tab, login)

    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name="Templates", level=1)).to_be_visible()
    assert axe_violations(page) == []
    editor = page.locator("form[data-template-editor]")
    editor.get_by_label("Name").fill("Intro")
    editor.get_by_label("Subject").fill("Hello ")
    editor.get_by_label("Subject").press("End")
    editor.get_by_role("button", name="contact.first_name").click()  # the token picker
    expect(editor.get_by_label("Subject")).to_have_value("Hello {{ contact.first_name }}")
    editor.get_by_label("Message").fill(
        'Hi {{ contact.first_name | default("there") }}, it is {{ sender.name }}.'
    )

    # Live preview for a chosen contact; a missing token is named.
    page.get_by_label("Preview for").select_option(label="Zoë van Dijk (zoe@prospect-tpl.test)")
    preview = page.locator("[data-preview]")
    expect(preview.locator("[data-preview-subject]")).to_have_text("Hello Zoë")
    expect(preview.locator("[data-preview-text]")).to_have_text("Hi Zoë, it is Sam Seller.")
    page.get_by_label("Preview for").select_option(label="anon@prospect-tpl.test")
    expect(preview).to_contain_text("{{ contact.first_name }}")
    expect(preview).to_contain_text("no value for anon@prospect-tpl.test")
    editor.get_by_label("Subject").fill("Hello {{ contact.first_name | default('you') }}")
    expect(preview.locator("[data-preview-subject]")).to_have_text("Hello you")
    editor.get_by_label("Message").fill("{{ ''.__class__ }}")
    expect(preview).to_contain_text("Only tokens")
    editor.get_by_label("Message").fill(
        'Hi {{ contact.first_name | default("there") }}, it is {{ sender.name }}.'
    )
    editor.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("status").filter(has_text="Template saved")).to_be_visible()
    expect(page.locator("#template-list")).to_contain_text("Intro")

    snippet = page.locator("#new-snippet")
    snippet.get_by_label("Shortcut").fill("pricing")
    snippet.get_by_label("Text").fill("Our prices start at 10 € a seat.")
    snippet.get_by_role("button", name="Add snippet").click()
    expect(page.locator("#snippet-list")).to_contain_text("#pricing")
    screenshot(page, "templates")
    assert axe_violations(page) == []

    # The composer: insert the template, a #shortcut, and send it later.
    page.goto(f"/contacts/{zoe['id']}?compose=1#composer")
    page.get_by_label("Insert template").select_option(label="Intro")
    expect(page.get_by_label("Subject")).to_have_value("Hello Zoë")
    expect(page.get_by_label("Message")).to_have_value("Hi Zoë, it is Sam Seller.")
    message = page.get_by_label("Message")
    message.press("End")
    message.press("Enter")
    message.press_sequentially("#pricing ")
    expect(message).to_have_value("Hi Zoë, it is Sam Seller.\nOur prices start at 10 € a seat. ")
    when = (datetime.now() + timedelta(days=2)).replace(hour=9, minute=30, second=0, microsecond=0)
    page.get_by_label("Send later").fill(when.strftime("%Y-%m-%dT%H:%M"))
    assert axe_violations(page) == []
    page.get_by_role("button", name="Send").click()
    status = page.locator("[data-compose-status]")
    expect(status).to_contain_text("Scheduled")
    out = page.locator(".email.is-out")
    expect(out.locator(".pill-scheduled")).to_have_text("Scheduled")
    expect(out.locator("[data-scheduled]")).to_contain_text("Scheduled for")
    screenshot(page, "scheduled")
    [email] = live.call(records.contact_emails(live.app.rt, caller, zoe["id"])).items
    assert email["status"] == "scheduled"
    assert datetime.fromisoformat(email["send_at"]) == when.astimezone()
    assert email["text"].replace("\r\n", "\n").startswith("Hi Zoë, it is Sam Seller.\nOur prices")

    out.get_by_role("button", name="Cancel sending").click()
    expect(page.locator(".email.is-out .pill-cancelled")).to_have_text("Cancelled")
    [email] = live.call(records.contact_emails(live.app.rt, caller, zoe["id"])).items
    assert email["status"] == "cancelled"
