"""Writing like in a mail client (issue 14 item 6) in Chromium, desktop and 375 px: the signature set
on the settings page starts a new email and is sent; Reply all addresses everyone but the user; a
draft typed, the page reloaded → restored, and gone once sent; the toolbar's bold, list and link
reach the real SMTP server as sanitised HTML with a text alternative, a hostile paste stripped, a
javascript: link refused; a forward (at 375 px) starts a new conversation carrying the original's
attachment, and a reply to it delivered to Dovecot lands with the forward. axe on every new state."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from playwright.sync_api import expect

from inboxlink.services.crm import contacts, records
from inboxlink.services.mail import compose, drafts
from tests.e2e.browser import Tab, screenshot
from tests.e2e.helpers import (
    CLIENT,
    PDF,
    monitored_inbox,
    new_login,
    sign_in,
    wait_until,
)
from tests.e2e.live_server import LiveServer
from tests.e2e.test_day_web import PHONE, serious_axe
from tests.support.replies import make_reply

pytestmark = pytest.mark.browser

CAROL = "carol@partner.test"
HOSTILE_PASTE = (
    '<p onclick="alert(1)">pasted <a href="javascript:alert(2)">trap</a>'
    '<img src="x" onerror="alert(3)"></p><script>alert(4)</script>'
)


def received(provider_smtp: Any, rcpt: str, subject: str) -> EmailMessage:
    def find() -> EmailMessage | None:
        for _sender, rcpts, data in reversed(provider_smtp.received):
            msg = email.message_from_bytes(data, policy=policy.default)
            if rcpt in rcpts and msg["Subject"] == subject:
                return msg  # type: ignore[return-value]
        return None

    found: EmailMessage = wait_until(find)
    return found


def test_signature_reply_all_drafts_rich_text_and_forward(
    browser: Any, tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    assert live.app is not None
    app = live.app
    login = new_login("wren")
    caller, inbox = monitored_inbox(live, login, mail_server, provider_smtp, mail_user)
    contact = live.call(contacts.create_contact(app.rt, caller, {"email": CLIENT, "name": "Chris Client"}))
    first = live.call(
        compose.send_email(
            app.rt,
            caller,
            {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "Our offer", "text": "Hi Chris"},
        )
    )
    message_id = wait_until(lambda: live.call(records.get_email(app.rt, caller, first["id"]))["message_id"])
    _, raw = make_reply(
        sender=f"Chris Client <{CLIENT}>",
        to=mail_user.email,
        cc="Dave Decider <dave@prospect.test>",
        subject="Re: Our offer",
        text="Signed order attached.\n",
        in_reply_to=message_id,
        references=[message_id],
        attachments=[("order.pdf", "application/pdf", PDF)],
    )
    mail_server.deliver(mail_user.email, raw)
    wait_until(lambda: len(live.call(records.contact_emails(app.rt, caller, contact["id"])).items) == 2)
    page = tab.page
    sign_in(tab, login)
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()

    # The signature, on the settings page.
    page.goto("/settings#signature")
    page.get_by_label("Signature", exact=True).fill("Sam Seller\nAcme Sales")
    page.get_by_role("button", name="Save signature").click()
    expect(page.locator("#signature")).to_contain_text("Signature saved.")
    expect(page.get_by_label("Signature", exact=True)).to_have_value("Sam Seller\nAcme Sales")
    assert serious_axe(page) == []

    # Reply all: Chris in To, Dave in Cc, never my own address.
    page.goto(f"/contacts/{contact['id']}")
    page.get_by_role("link", name="Reply all to Chris Client: Re: Our offer").click()
    expect(page.get_by_label("To", exact=True)).to_have_value(f"Chris Client <{CLIENT}>")
    expect(page.get_by_label("Cc", exact=True)).to_have_value("Dave Decider <dave@prospect.test>")
    assert mail_user.email not in page.get_by_label("Cc", exact=True).input_value()
    expect(page.locator("#compose-reply-note")).to_contain_text("Replying to Chris Client: Re: Our offer")
    assert serious_axe(page) == []
    page.locator("[data-cancel-reply]").click()
    expect(page.get_by_label("Cc", exact=True)).to_have_value("")

    # A new email starts with the signature; a draft is saved while typing and restored on reload.
    message = page.get_by_label("Message", exact=True)
    expect(message).to_have_value("\n\n-- \nSam Seller\nAcme Sales")
    page.get_by_label("Subject", exact=True).fill("Order next steps")
    message.press("Control+Home")
    message.press_sequentially("Thanks Chris")
    expect(page.locator("[data-draft-status]")).to_have_text("Draft saved", timeout=10_000)
    page.reload()
    expect(page.locator("[data-draft-restored]")).to_be_visible()
    expect(page.locator("#composer")).to_have_attribute("open", "")
    expect(page.get_by_label("Subject", exact=True)).to_have_value("Order next steps")
    expect(page.get_by_label("Message", exact=True)).to_have_value(
        "Thanks Chris\n\n-- \nSam Seller\nAcme Sales"
    )
    assert serious_axe(page) == []

    # Formatting: bold, a list and a link from the toolbar; a hostile paste is cleaned.
    toggle = page.get_by_role("button", name="Formatting")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    editor = page.get_by_role("textbox", name="Text with formatting")
    expect(editor).to_be_focused()
    expect(editor).to_contain_text("Thanks Chris")
    page.keyboard.press("Control+Home")
    page.keyboard.press("End")
    page.keyboard.type(", ")
    bold = page.get_by_role("button", name="Bold")
    bold.click()
    expect(bold).to_have_attribute("aria-pressed", "true")
    page.keyboard.type("two things")
    page.keyboard.press("Control+b")  # the shortcut turns it off again
    page.keyboard.type(":")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Bulleted list").click()
    page.keyboard.type("sign the order")
    page.keyboard.press("Enter")
    page.keyboard.type("read the terms")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # out of the list
    editor.evaluate(
        """(el, html) => { const dt = new DataTransfer(); dt.setData('text/html', html);
           dt.setData('text/plain', 'pasted trap');
           el.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true})); }""",
        HOSTILE_PASTE,
    )
    inner = editor.inner_html()
    assert (
        "pasted trap" in inner
        and "onclick" not in inner
        and "javascript" not in inner
        and "<img" not in inner
    )
    expect(editor.locator("a")).to_have_count(0)  # the javascript: link kept its words only
    page.keyboard.type(" See ")
    page.get_by_role("button", name="Link", exact=True).click()
    dialog = page.locator("#link-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Link address").fill("javascript:alert(document.cookie)")
    dialog.get_by_role("button", name="Add link").click()
    expect(dialog.locator("[data-link-error]")).to_contain_text("other kinds of links are not allowed")
    expect(dialog.get_by_label("Link address")).to_be_focused()
    assert serious_axe(page) == []
    dialog.get_by_label("Link address").fill("https://prospect.test/terms")
    dialog.get_by_role("button", name="Add link").click()
    expect(dialog).to_be_hidden()
    expect(editor.locator('a[href="https://prospect.test/terms"]')).to_have_count(1)
    assert serious_axe(page) == []
    screenshot(page, "composer-formatting")
    page.get_by_role("button", name="Send").click()
    status = page.locator("[data-compose-status]")
    expect(status).to_contain_text("Sent", timeout=20_000)

    # What the real SMTP server received: multipart/alternative, clean HTML, a derived text part.
    msg = received(provider_smtp, CLIENT, "Order next steps")
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "<b>two things</b>" in html
    assert re.search(r"<ul><li>sign the order</li><li>read the terms</li></ul>", html), html
    assert 'href="https://prospect.test/terms"' in html
    for bad in ("onclick", "javascript", "<script", "onerror", "<img", "alert"):
        assert bad not in html, bad
    assert "Thanks Chris, two things:" in text and "- sign the order\n- read the terms" in text
    assert "pasted trap" in text and "https://prospect.test/terms" in text
    assert "-- \nSam Seller\nAcme Sales" in text  # the signature went out
    # The draft is gone: not on the server, not restored on the next visit.
    assert live.call(drafts.get_draft(app.rt, caller, contact["id"], "new")) is None
    page.reload()
    expect(page.locator("[data-draft-restored]")).to_have_count(0)

    # Forward, at 375 px: a new conversation with the original's attachment.
    phone_context = browser.new_context(base_url=live.base_url, viewport=PHONE)
    phone = phone_context.new_page()
    try:
        sign_in(Tab(phone), login)
        expect(phone.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
        phone.goto(f"/contacts/{contact['id']}")
        phone.get_by_role("link", name="Forward Chris Client: Re: Our offer").click()
        note = phone.locator("#compose-forward-note")
        expect(note).to_contain_text("Forwarding Chris Client: Re: Our offer as a new conversation")
        attach = phone.get_by_label(re.compile(r"Include its 1 attachment: order\.pdf"))
        expect(attach).to_be_checked()
        expect(phone.get_by_label("Subject", exact=True)).to_have_value("Fwd: Re: Our offer")
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert serious_axe(phone) == []
        phone.get_by_label("To", exact=True).fill(f"Carol <{CAROL}>")
        phone.get_by_label("Message", exact=True).press("Control+Home")
        phone.get_by_label("Message", exact=True).press_sequentially("Carol, the signed order.")
        phone.get_by_role("button", name="Send").click()
        expect(phone.locator("[data-compose-status]")).to_contain_text("Sent", timeout=20_000)
        forwarded = received(provider_smtp, CAROL, "Fwd: Re: Our offer")
        assert forwarded["In-Reply-To"] is None and message_id not in str(forwarded["References"] or "")
        assert [p.get_filename() for p in forwarded.iter_attachments()] == ["order.pdf"]
        assert "---------- Forwarded message ---------" in forwarded.get_body(("plain",)).get_content()
        items = live.call(records.contact_emails(app.rt, caller, contact["id"])).items
        forward = next(e for e in items if e["subject"] == "Fwd: Re: Our offer")
        assert forward["thread_id"] != first["thread_id"]

        # Carol answers the forward (into the Dovecot INBOX): it lands with the forward, live.
        _, raw = make_reply(
            sender=f"Carol <{CAROL}>",
            to=mail_user.email,
            subject="Re: Fwd: Re: Our offer",
            text="Got it, thanks.\n",
            in_reply_to=str(forward["message_id"]),
            references=[str(forward["message_id"])],
        )
        mail_server.deliver(mail_user.email, raw)
        thread = phone.locator(".thread", has_text="Got it, thanks.")
        expect(thread).to_have_count(1, timeout=20_000)
        expect(thread).to_contain_text("Carol, the signed order.")
        expect(thread).not_to_contain_text("Hi Chris")
        screenshot(phone, "forward-thread")
        assert serious_axe(phone) == []
    finally:
        phone_context.close()
    assert tab.dialogs == []
