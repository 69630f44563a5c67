"""A working day in the UI (issue 14), each finding of the day as the step that showed it: the banner
of a disconnected inbox goes away in an open tab when it is reconnected elsewhere; a failed connect
puts a focused, announced summary first (also at 375 px) in words a salesperson understands; a new
reply changes the tab title, the Replies badge and the live region, and is read once seen; sending
by keyboard leaves focus on the outcome; an HTML email is shown whole with its history folded."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from playwright.sync_api import expect

from inboxlink.services.accounts import inboxes
from inboxlink.services.accounts.users import create_user
from inboxlink.services.crm import contacts, records
from inboxlink.services.mail import compose
from tests.e2e.browser import Tab, screenshot
from tests.e2e.helpers import (
    CLIENT,
    live_conversation,
    monitored_inbox,
    new_login,
    sign_in,
    wait_until,
)
from tests.e2e.live_server import PASSWORD, LiveServer
from tests.support.replies import make_reply

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}


def serious_axe(page: Any) -> list[str]:
    """axe-core on the page as it stands: the serious and critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in {"serious", "critical"}
    ]


def html_reply(to: str, in_reply_to: str, html: str) -> bytes:
    msg = EmailMessage()
    msg["Message-ID"] = make_msgid(domain="prospect.test")
    msg["From"] = f"Chris Client <{CLIENT}>"
    msg["To"] = to
    msg["Subject"] = "Re: Our offer"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["In-Reply-To"] = f"<{in_reply_to}>"
    msg["References"] = f"<{in_reply_to}>"
    msg.set_content("Details below.")
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def in_viewport(page: Any, selector: str) -> bool:
    return bool(
        page.evaluate(
            "(s) => { const r = document.querySelector(s).getBoundingClientRect();"
            " return r.top >= 0 && r.top < window.innerHeight; }",
            selector,
        )
    )


def test_banner_clears_on_reconnect_in_open_tabs_and_reconnect_link_focuses_password(
    browser: Any, tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    assert live.app is not None
    app = live.app
    login = new_login("dana")
    caller, inbox = monitored_inbox(live, login, mail_server, provider_smtp, mail_user)
    desk = tab.page
    sign_in(tab, login)
    phone_context = browser.new_context(base_url=live.base_url, viewport=PHONE)
    phone = phone_context.new_page()
    try:
        sign_in(Tab(phone), login)
        for page in (desk, phone):
            expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
            page.evaluate("window.__samePage = true")

        new_password = "changed-" + secrets.token_hex(6)
        mail_server.set_password(mail_user.email, new_password)
        mail_server.kick(mail_user.email)
        for page in (desk, phone):
            expect(page.locator(".banner")).to_contain_text(
                f"{mail_user.email} is disconnected", timeout=25_000
            )
        # The notification the API had is in the UI, counted in the navigation.
        expect(desk.locator("[data-notification-badge]")).to_have_text(re.compile(r"^1"))

        # Disconnected: no "Last sync: just now" on the inbox card.
        phone.goto("/settings")
        card = phone.locator(f"#inbox-{inbox['id']}")
        expect(card).to_contain_text("Disconnected")
        expect(card).not_to_contain_text("just now")
        expect(card.locator("[data-sync-stopped]")).to_contain_text("Stopped")
        # The banner's Reconnect link puts the cursor in that inbox's password field.
        phone.locator(".banner").get_by_role("link", name="Reconnect").click()
        expect(phone.get_by_label(f"Current password for {mail_user.email}")).to_be_focused()
        assert serious_axe(phone) == []
        desk.goto("/notifications")
        expect(desk.locator(".reply-item")).to_contain_text(f"Your inbox {mail_user.email} was disconnected")
        assert serious_axe(desk) == []
        desk.goto("/contacts")
        desk.evaluate("window.__samePage = true")
        phone.goto("/contacts")
        phone.evaluate("window.__samePage = true")

        # Reconnected elsewhere (the API, another device): both open tabs drop the banner by themselves.
        live.call(inboxes.update_credentials(app.rt, caller, inbox["id"], {"password": new_password}))
        for page in (desk, phone):
            expect(page.locator(".banner")).to_have_count(0, timeout=10_000)
            expect(page.locator("[data-notification-badge]")).to_be_hidden()
            assert page.evaluate("window.__samePage") is True
    finally:
        phone_context.close()


def test_failed_connect_summary_is_first_focused_and_in_plain_words(
    tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    login = new_login("casey")
    live.user(login, "Casey Connect")
    page = tab.page
    sign_in(tab, login)
    page.set_viewport_size(PHONE)

    def connect(email: str, imap_port: int, imap_security: str, password: str, smtp_port: str = "") -> None:
        page.goto("/settings")
        page.get_by_label("Email address").fill(email)
        page.locator("#imap_host").fill("127.0.0.1")
        page.locator("#imap_port").fill(str(imap_port))
        page.locator("#imap_security").select_option(imap_security)
        page.locator("#smtp_host").fill("127.0.0.1")
        page.locator("#smtp_port").fill(smtp_port or str(provider_smtp.starttls_port))
        page.locator("#smtp_security").select_option("starttls")
        page.get_by_label("Password or app password").fill(password)
        page.get_by_role("button", name="Connect inbox").click()

    summary = page.locator("#error-summary")
    # An address that is not one gets an error, and the summary is focused and on screen at 375 px.
    connect("not-an-email", mail_server.imaps_port, "tls", mail_user.password)
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_contain_text("“not-an-email” isn’t an email address")
    assert in_viewport(page, "#error-summary")
    expect(page.locator("#email-error")).to_be_visible()
    screenshot(page, "connect-error-mobile", full_page=False)
    assert serious_axe(page) == []
    # Its link takes the keyboard to the field.
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("Email address")).to_be_focused()

    # A closed port: what it means, not the socket's "Connect call failed ('127.0.0.1', 1)".
    connect(mail_user.email, 1, "tls", mail_user.password)
    expect(summary).to_be_focused()
    expect(page.locator("#imap_host-error")).to_contain_text("nothing accepts connections at 127.0.0.1:1")
    expect(page.locator("main")).not_to_contain_text("Connect call failed")

    # SSL/TLS to the STARTTLS port: the advice is STARTTLS, not the certificate.
    connect(mail_user.email, mail_server.imap_port, "tls", mail_user.password)
    expect(summary).to_be_focused()
    expect(page.locator("#imap_security-error")).to_contain_text("probably expects STARTTLS")
    expect(page.locator("main")).not_to_contain_text("WRONG_VERSION_NUMBER")
    expect(page.locator("main")).not_to_contain_text("certificate is valid")

    # The server's words quoted once, without "(Authentication failed.)."
    connect(mail_user.email, mail_server.imaps_port, "tls", "wrong-" + mail_user.password)
    expect(page.locator("#password-error")).to_contain_text("didn’t accept this user name and password")
    assert ".)." not in (page.locator("#password-error").text_content() or "")

    # A long port error runs across the server column, not squeezed into the Port field.
    page.set_viewport_size({"width": 1280, "height": 880})
    connect(mail_user.email, mail_server.imaps_port, "tls", mail_user.password, smtp_port="not a port")
    expect(summary).to_be_focused()
    error_box = page.locator("#smtp_port-error").bounding_box()
    port_box = page.locator("#smtp_port").bounding_box()
    column = page.locator("fieldset.server").nth(1).bounding_box()
    assert error_box and port_box and column
    assert error_box["width"] > port_box["width"] * 1.5, (error_box, port_box)
    assert error_box["height"] < 80, error_box  # a few lines, not ~25
    assert serious_axe(page) == []


def test_a_new_reply_is_not_missed_and_read_once_seen(
    tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    assert live.app is not None
    login = new_login("rhea")
    _caller, _inbox, contact, _sent, message_id = live_conversation(
        live, login, mail_server, provider_smtp, mail_user
    )
    page = tab.page
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    sign_in(tab, login)
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    expect(page.locator("[data-unread-badge]")).to_be_hidden()
    title = page.title()

    # A reply delivered to the Dovecot INBOX: badge, tab title and a polite announcement, live.
    _, raw = make_reply(
        sender=f"Chris Client <{CLIENT}>",
        to=mail_user.email,
        subject="Re: Our offer",
        text="Thursday works for us.\n\nOn Tue, Sam wrote:\n> Hi Chris\n",
        in_reply_to=message_id,
        references=[message_id],
    )
    mail_server.deliver(mail_user.email, raw)
    badge = page.locator("[data-unread-badge]")
    expect(badge).to_have_text(re.compile(r"^1"), timeout=20_000)
    expect(page).to_have_title(f"(1) {title}")
    expect(page.locator("[data-announcer]")).to_have_text("New reply from Chris Client: Re: Our offer")
    expect(page.locator("[data-announcer]")).to_have_attribute("aria-live", "polite")

    # The Replies view: across contacts, with the contact and the reply's own words (not the quote).
    page.get_by_role("link", name=re.compile(r"^Replies")).click()
    item = page.locator(".reply-item").first
    expect(item).to_contain_text("Chris Client")
    expect(item).to_contain_text("Unread")
    expect(item.locator(".snippet")).to_have_text("Thursday works for us.")
    screenshot(page, "replies")
    assert serious_axe(page) == []

    # Seen on the record: read; the quoted history is folded behind "…".
    item.get_by_role("link", name="Chris Client").click()
    expect(page.get_by_role("heading", name="Chris Client", level=1)).to_be_visible()
    expect(page.locator("[data-unread-badge]")).to_be_hidden()
    assert not page.title().startswith("(")
    history = page.locator(".email.is-in details.quoted-history")
    expect(history).not_to_have_attribute("open", "")
    expect(history.locator("div")).to_be_hidden()
    history.locator("summary").click()
    expect(history.locator("div")).to_contain_text("> Hi Chris")

    # Composer: an entry that is not an address is named in a sentence.
    page.get_by_role("link", name="Write email").click()
    page.get_by_label("To", exact=True).fill("bob@example.test, not an address")
    page.get_by_label("Subject", exact=True).fill("Hello")
    page.get_by_label("Message", exact=True).fill("Hi")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-error-for=compose-to]")).to_have_text(
        "“not an address” in To isn’t an email address. Separate addresses with commas, like ann@example.com, bob@example.com."
    )
    # Sent by keyboard: focus lands on the outcome, not the body.
    page.get_by_label("To", exact=True).fill(CLIENT)
    page.get_by_role("button", name="Send").focus()
    page.keyboard.press("Enter")
    status = page.locator("[data-compose-status]")
    expect(status).to_contain_text("Sent", timeout=20_000)
    expect(status).to_be_focused()

    # An HTML reply, live, while the record is open at 375 px: whole (no inner scrollbar, not capped
    # at 640 px), its history folded, a focus ring when the keyboard is inside it.
    page.set_viewport_size(PHONE)
    page.evaluate("window.scrollTo(0, 0)")
    long_text = "".join(f"<p>Point {n}: we agree on this part of the offer.</p>" for n in range(40))
    mail_server.deliver(
        mail_user.email,
        html_reply(
            mail_user.email,
            message_id,
            f"<div>{long_text}<p><a href='https://prospect.test/terms'>terms</a></p></div>"
            "<blockquote type='cite'><p>Hi Chris, the old offer</p></blockquote>",
        ),
    )
    frame = page.locator(".email.is-in iframe.email-frame")
    expect(frame).to_have_count(1, timeout=20_000)
    expect(frame).to_have_class(re.compile(r"is-sized"))
    assert "allow-scripts" not in (frame.get_attribute("sandbox") or "")
    heights = frame.evaluate(
        "f => ({outer: f.getBoundingClientRect().height, inner: f.contentDocument.documentElement.scrollHeight})"
    )
    assert heights["outer"] > 640 and heights["outer"] >= heights["inner"], heights
    inner = page.frame_locator(".email.is-in iframe.email-frame")
    expect(inner.locator("details.il-quoted")).to_have_count(1)
    expect(inner.locator("details.il-quoted blockquote")).to_be_hidden()
    # Below the fold: a cue says a reply came, and takes the reader there.
    cue = page.locator("[data-new-reply-cue]")
    expect(cue).to_contain_text("New reply from Chris Client")
    cue.get_by_role("button", name="Show it").click()
    expect(page.locator("[data-unread-badge]")).to_be_hidden(timeout=10_000)  # seen: read
    # The conversation shows its newest email; the two earlier ones fold behind a count, open on click.
    thread = page.locator(".thread", has=page.locator("iframe.email-frame"))
    fold = thread.locator("details.thread-earlier")
    expect(fold.locator(":scope > summary")).to_have_text("2 earlier emails")
    expect(fold.locator(".email").first).to_be_hidden()
    fold.locator(":scope > summary").click()
    expect(fold.locator(".email.is-in")).to_be_visible()
    expect(fold.locator(".email.is-in")).to_contain_text("Thursday works for us.")
    inner.get_by_role("link", name="terms").focus()
    assert frame.evaluate("f => getComputedStyle(f).outlineStyle") == "solid"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert serious_axe(page) == []

    # A favicon on every page, and nothing asked for came back 404.
    assert page.request.get("/favicon.ico").status == 200
    assert missing == [], missing
    assert tab.dialogs == []
    assert contact["id"]


def test_manage_contacts_edit_sort_by_reply_and_merge_keeps_every_email(
    browser: Any, tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    assert live.app is not None
    app = live.app
    login = new_login("milo")
    caller, inbox = monitored_inbox(live, login, mail_server, provider_smtp, mail_user)
    tag = secrets.token_hex(3)
    main_address, dup_address = f"pat-{tag}@prospect.test", f"pat.work-{tag}@prospect.test"
    keep = live.call(contacts.create_contact(app.rt, caller, {"email": main_address, "name": "Pat Main"}))
    dup = live.call(contacts.create_contact(app.rt, caller, {"email": dup_address, "name": ""}))
    sent = [
        live.call(
            compose.send_email(
                app.rt,
                caller,
                {"inbox_id": inbox["id"], "to": [{"email": to}], "subject": subject, "text": "Hello"},
            )
        )
        for to, subject in [(main_address, "Intro"), (dup_address, "Pricing")]
    ]
    for email in sent:
        wait_until(lambda e=email: live.call(records.get_email(app.rt, caller, e["id"]))["message_id"])
    pricing_id = live.call(records.get_email(app.rt, caller, sent[1]["id"]))["message_id"]
    _, raw = make_reply(
        sender=f"Pat <{dup_address}>",
        to=mail_user.email,
        subject="Re: Pricing",
        text="Numbers attached.",
        in_reply_to=pricing_id,
        references=[pricing_id],
        attachments=[("numbers.csv", "text/csv", b"a,b\n1,2\n")],
    )
    mail_server.deliver(mail_user.email, raw)
    wait_until(lambda: len(live.call(records.contact_emails(app.rt, caller, dup["id"])).items) == 2)

    page = tab.page
    sign_in(tab, login)
    # Sorted by reply: the contact who replied comes first, marked, with its last activity.
    page.goto(f"/contacts?q={tag}")
    page.get_by_role("navigation", name="Sort contacts").get_by_role("link", name="Replied").click()
    rows = page.locator(".contacts-table tbody tr")
    expect(rows.first).to_contain_text(dup_address)
    expect(rows.first.locator("[data-replied]")).to_contain_text("Replied")
    expect(rows.nth(1).locator("[data-replied]")).to_have_count(0)
    expect(rows.nth(1).locator("[data-last-activity] time")).to_have_count(1)
    assert serious_axe(page) == []

    # Edit: the profile fields, shown on the record.
    page.goto(f"/contacts/{keep['id']}")
    page.get_by_role("link", name="Edit contact").click()
    page.get_by_label("First name").fill("Pat")
    page.get_by_label("Last name").fill("Main")
    page.get_by_label("Phone").fill("+48 600 100 200")
    page.get_by_label("Job title").fill("Head of Purchasing")
    page.get_by_label("Owner").select_option(label="Sam Seller")
    page.get_by_label("Lifecycle stage").select_option("customer")
    assert serious_axe(page) == []
    page.get_by_role("button", name="Save").click()
    facts = page.locator("[data-contact-profile]")
    for shown in ("Head of Purchasing", "+48 600 100 200", "Sam Seller", "Customer"):
        expect(facts).to_contain_text(shown)

    # Merge the duplicate (at 375 px): every email and the attachment are on the kept contact.
    page.set_viewport_size(PHONE)
    page.get_by_role("link", name="Merge a duplicate").click()
    page.get_by_role("button", name=re.compile("^Merge into")).click()
    expect(page.locator("#error-summary")).to_be_focused()  # nothing picked: said first
    page.get_by_label("Duplicate contact").select_option(label=f"{dup_address} — {dup_address}")
    assert serious_axe(page) == []
    page.get_by_role("button", name=re.compile("^Merge into")).click()
    expect(page.locator("[data-merged]")).to_contain_text("2 emails moved")
    expect(page.locator(".email")).to_have_count(3)
    for subject in ("Intro", "Pricing", "Re: Pricing"):
        expect(page.locator("#timeline")).to_contain_text(subject)
    expect(page.locator("#attachments")).to_contain_text("numbers.csv")
    # The timeline's filters: received, sent, with attachments (links; the live refresh keeps them).
    filters = page.get_by_role("navigation", name="Show emails")
    filters.get_by_role("link", name="With attachments").click()
    expect(page.locator(".email")).to_have_count(1)
    expect(page.locator(".email")).to_contain_text("Numbers attached.")
    filters = page.get_by_role("navigation", name="Show emails")
    filters.get_by_role("link", name="Sent").click()
    expect(page.locator(".email.is-out")).to_have_count(2)
    expect(page.locator(".email.is-in")).to_have_count(0)
    assert serious_axe(page) == []
    page.get_by_role("navigation", name="Show emails").get_by_role("link", name="All").click()
    expect(page.locator(".email")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    kept = live.call(records.contact_emails(app.rt, caller, keep["id"])).items
    assert sorted(e["subject"] for e in kept) == ["Intro", "Pricing", "Re: Pricing"]
    assert page.request.get(f"/contacts/{dup['id']}").status == 404

    # Another team sees none of it: the 404 page for the profile, merge and delete forms.
    outsider = new_login("eve")
    live.call(create_user(app.rt, outsider, PASSWORD, name="Eve", team=f"other-{tag}"))
    other_context = browser.new_context(base_url=live.base_url)
    try:
        other = other_context.new_page()
        sign_in(Tab(other), outsider)
        expect(other.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
        for path in ("profile", "merge", "delete"):
            assert other.request.get(f"/contacts/{keep['id']}/{path}").status == 404
    finally:
        other_context.close()

    # Deleting: the emails stay on the company's record (a contact whose emails are on no other
    # record is refused instead: tests/integration/test_contact_manage.py).
    company_id = live.call(contacts.get_contact(app.rt, caller, keep["id"]))["company_id"]
    assert company_id is not None
    page.goto(f"/contacts/{keep['id']}/delete")
    assert serious_axe(page) == []
    page.get_by_role("button", name="Delete contact").click()
    expect(page).to_have_url(re.compile(r"/contacts\?deleted=1$"))
    assert page.request.get(f"/contacts/{keep['id']}").status == 404
    page.goto(f"/companies/{company_id}")
    for subject in ("Intro", "Pricing", "Re: Pricing"):
        expect(page.locator("main")).to_contain_text(subject)
