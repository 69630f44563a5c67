"""The web UI in a real browser against the real app, Dovecot and the provider's SMTP server: sign-in,
connecting and removing an inbox, sending from a record, a reply arriving live and answering it,
downloads, hostile HTML, and a disconnected inbox coming back."""

from __future__ import annotations

import re
import secrets
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from inboxlink.services.crm import contacts, records
from tests.e2e.browser import CHROMIUM, Tab, screenshot
from tests.e2e.helpers import (
    CLIENT,
    PDF,
    PIXEL,
    connect_via_service,
    hostile_reply,
    monitored_inbox,
    new_login,
    sign_in,
    wait_until,
)
from tests.e2e.live_server import PASSWORD, LiveServer
from tests.support.replies import make_reply

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"Chromium is not installed at {CHROMIUM}: run scripts/install-test-deps (apt-get install chromium)",
        allow_module_level=True,
    )
pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")

from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_sign_in_wrong_password_and_throttling(tab: Tab, live: LiveServer) -> None:
    login = new_login("sam")
    live.user(login, "Sam Seller")
    page = tab.page
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Email address")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    screenshot(page, "sign-in", full_page=False)

    sign_in(tab, login, "not the password")
    expect(page.get_by_role("alert")).to_contain_text("don’t match")
    expect(page.get_by_label("Email address")).to_have_value(login)  # kept for the next try

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/contacts$"))
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    page.keyboard.press("Tab")  # keyboard users can skip straight past the navigation
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["il_session"]["httpOnly"] and cookies["il_session"]["sameSite"] == "Lax"

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/contacts?q=a&page=1")
    expect(page).to_have_url(re.compile(r"/login\?next=/contacts%3Fq%3Da%26page%3D1$"))

    # Five failures for one address from one IP lock that pair for a while.
    for _ in range(5):
        sign_in(tab, login, "guess")
        expect(page.get_by_role("alert")).to_contain_text("don’t match")
    sign_in(tab, login, PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text(
        re.compile(r"Too many attempts.*try again in \d+ minute")
    )


def test_connect_inbox_with_presets_pop3_and_field_errors(
    tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    login = new_login("casey")
    live.user(login, "Casey Connect")
    page = tab.page
    sign_in(tab, login)
    page.get_by_role("link", name="Inboxes & settings").click()
    expect(page.get_by_text("No inbox connected yet.")).to_be_visible()

    # Presets fill the servers.
    page.get_by_label("Email provider").select_option("gmail")
    expect(page.locator("#imap_host")).to_have_value("imap.gmail.com")
    expect(page.locator("#smtp_port")).to_have_value("465")
    page.get_by_label("Email provider").select_option("outlook")
    expect(page.locator("#smtp_host")).to_have_value("smtp.office365.com")
    expect(page.locator("#smtp_security")).to_have_value("starttls")

    # POP3: explained, and nothing to submit.
    page.locator("input[name=protocol][value=pop3]").check()
    expect(page.locator("#pop3-note")).to_be_visible()
    expect(page.locator("#pop3-note")).to_contain_text("POP3 is not supported")
    expect(page.locator("#pop3-note")).to_contain_text("IMAP")
    expect(page.get_by_role("button", name="Connect inbox")).to_be_disabled()
    page.locator("input[name=protocol][value=imap]").check()
    expect(page.locator("#pop3-note")).to_be_hidden()

    page.get_by_label("Email provider").select_option("other")
    page.get_by_label("Email address").fill(mail_user.email)
    page.locator("#imap_host").fill("127.0.0.1")
    page.locator("#imap_port").fill(str(mail_server.imaps_port))
    page.locator("#imap_security").select_option("tls")
    page.locator("#smtp_host").fill("127.0.0.1")
    page.locator("#smtp_port").fill(str(provider_smtp.starttls_port))
    page.locator("#smtp_security").select_option("starttls")
    page.get_by_label("Password or app password").fill("wrong-" + mail_user.password)
    page.get_by_role("button", name="Connect inbox").click()

    # The refusal is shown at the password field, in plain words, with the form kept.
    error = page.locator("#password-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("didn’t accept this user name and password")
    expect(page.get_by_label("Password or app password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#imap_port")).to_have_value(str(mail_server.imaps_port))

    page.get_by_label("Password or app password").fill(mail_user.password)
    page.get_by_role("button", name="Connect inbox").click()
    card = page.locator("article.inbox", has_text=mail_user.email)
    expect(card).to_contain_text("Connected")
    expect(card).to_contain_text("Sent")  # the Sent folder it found
    bcc = page.get_by_label("Your BCC logging address")
    expect(bcc).to_have_text(re.compile(r"^[0-9a-f]+@bcc\.localhost$"))
    page.get_by_role("button", name="Copy address").click()
    expect(page.locator("[data-copy-status]")).not_to_be_empty()
    screenshot(page, "inbox-settings")
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    # Removing it: a confirmation page with a plain form says what happens; then it is gone.
    inbox_id = int((card.get_attribute("id") or "").removeprefix("inbox-"))
    assert live.app is not None and live.app.monitor(inbox_id) is not None
    card.get_by_role("link", name=f"Remove inbox {mail_user.email}").click()
    confirm = page.locator(".confirm")
    expect(page.get_by_role("heading", name=f"Remove {mail_user.email}?")).to_be_visible()
    expect(confirm).to_contain_text("Monitoring stops")
    expect(confirm).to_contain_text("stays on your contacts’ records")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    forged = page.request.post(f"/settings/inboxes/{inbox_id}/remove", form={"csrf_token": "forged"})
    assert forged.status == 403  # CSRF-protected: nothing removed
    page.set_viewport_size({"width": 1280, "height": 880})
    screenshot(page, "inbox-remove", full_page=False)
    confirm.get_by_role("button", name="Remove inbox").click()
    expect(page).to_have_url(re.compile(r"/settings\?removed=1$"))
    expect(page.get_by_role("status").filter(has_text="Inbox removed")).to_contain_text(
        "stay on your contacts’ records"
    )
    expect(page.locator("article.inbox")).to_have_count(0)
    expect(page.get_by_text("No inbox connected yet.")).to_be_visible()
    app = live.app
    wait_until(lambda: app.monitor(inbox_id) is None)  # monitoring stopped


def test_send_from_the_record_reply_appears_live_and_hostile_html_is_inert(
    tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    assert live.app is not None
    login = new_login("sam")
    caller, _inbox = connect_via_service(live, login, mail_server, provider_smtp, mail_user)
    page = tab.page
    sign_in(tab, login)

    for email, name, company in [
        ("ada@analytical.test", "Ada Lovelace", "Analytical Engines"),
        ("grace@cobol.test", "Grace Hopper", "Navy Labs"),
        ("linus@kernel.test", "Linus Svensson", ""),
        ("margaret@apollo.test", "Margaret Hamilton", "Apollo Guidance"),
    ]:
        live.call(
            contacts.create_contact(live.app.rt, caller, {"email": email, "name": name, "company": company})
        )
    page.goto("/contacts")
    expect(page.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    screenshot(page, "contacts", full_page=False)
    page.get_by_label("Search contacts").fill("apollo")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".contacts-table tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="Margaret Hamilton")).to_be_visible()

    # Create the contact; its record opens.
    form = page.locator("#new-contact")
    form.get_by_label("Email address").fill(CLIENT)
    form.get_by_label("Name").fill("Chris Client")
    form.get_by_label("Company").fill("Prospect Ltd")
    form.get_by_role("button", name="Create contact").click()
    expect(page.get_by_role("heading", name="Chris Client", level=1)).to_be_visible()
    contact_id = int(page.url.rsplit("/", 1)[1])

    # Compose: To is prefilled; attach a file.
    page.get_by_role("link", name="Write email").click()
    expect(page.get_by_label("To")).to_have_value(CLIENT)
    page.get_by_label("Subject").fill("Our offer")
    page.get_by_label("Message").fill("Hi Chris,\n\nas promised, our offer is attached.\n\nBest,\nSam")
    page.get_by_label("Attach files").set_input_files(
        {"name": "offer.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    screenshot(page, "composer")
    page.evaluate("window.__samePage = true")  # survives only if nothing reloads the page
    page.get_by_role("button", name="Send").click()
    status = page.locator("[data-compose-status]")
    expect(status).to_contain_text("Sent", timeout=20_000)
    expect(status).to_contain_text("“Sent” folder")
    expect(page.locator(".email.is-out")).to_contain_text("as promised")
    expect(page.locator(".email.is-out .pill-sent")).to_have_text("Sent")
    assert len(mail_server.messages(mail_user.email, "Sent")) == 1

    # A reply delivered over LMTP shows up by itself.
    [sent] = live.call(records.contact_emails(live.app.rt, caller, contact_id)).items
    reply_id, raw = make_reply(
        sender=f"Chris Client <{CLIENT}>",
        to=mail_user.email,
        subject="Re: Our offer",
        text="Sounds good, let's talk on Thursday.\nNotes attached.",
        in_reply_to=sent["message_id"],
        references=[sent["message_id"]],
        attachments=[("notes.txt", "text/plain", b"line 1\nline 2\n")],
    )
    mail_server.deliver(mail_user.email, raw)
    expect(page.locator(".email.is-in")).to_contain_text("Sounds good", timeout=20_000)
    assert page.evaluate("window.__samePage") is True
    expect(page.locator("#attachments")).to_contain_text("notes.txt")

    with page.expect_download() as download:
        page.locator("#attachments a", has_text="notes.txt").click()
    assert download.value.suggested_filename == "notes.txt"
    assert Path(download.value.path()).read_bytes() == b"line 1\nline 2\n"

    # Reply from the timeline, by keyboard: the composer on the same page answers Chris's email.
    reply_link = page.locator(".email.is-in", has_text="Sounds good").get_by_role(
        "link", name="Reply to Chris Client: Re: Our offer"
    )
    href = reply_link.get_attribute("href") or ""  # (read now: later the email folds into its conversation)
    reply_link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    expect(page.get_by_label("To", exact=True)).to_have_value(f"Chris Client <{CLIENT}>")
    expect(page.get_by_label("Subject", exact=True)).to_have_value("Re: Our offer")  # not "Re: Re: …"
    expect(page.locator("#compose-reply-note")).to_contain_text("Replying to Chris Client: Re: Our offer")
    page.keyboard.type("Thursday at 10 works. I'll bring the contract.")
    page.get_by_role("button", name="Send").click()
    thread = page.locator(".thread", has_text="Sounds good")
    answer = thread.locator(".email.is-out", has_text="Thursday at 10 works")
    expect(answer.locator(".pill-sent")).to_have_text("Sent", timeout=20_000)
    expect(page.locator(".thread")).to_have_count(1)  # the same conversation, not a new one
    expect(page.locator("#compose-reply-note")).to_be_hidden()  # the composer is back to a new email
    expect(page.get_by_label("To", exact=True)).to_have_value(CLIENT)
    assert page.evaluate("window.__samePage") is True
    copies = wait_until(
        lambda: [
            m
            for m in map(message_from_bytes, mail_server.messages(mail_user.email, "Sent"))
            if m["Subject"] == "Re: Our offer"
        ]
    )
    assert [m["In-Reply-To"] for m in copies] == [f"<{reply_id}>"]
    assert f"<{reply_id}>" in copies[0]["References"] and f"<{sent['message_id']}>" in copies[0]["References"]

    # Hostile HTML: rendered in a sandbox without scripts; remote images wait for a click.
    tracker_hits: list[str] = []

    def tracker(route: Any) -> None:
        tracker_hits.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=PIXEL)

    page.route("https://tracker.example/**", tracker)
    mail_server.deliver(mail_user.email, hostile_reply(mail_user, sent["message_id"]))
    frame = page.locator(".email.is-in iframe.email-frame")
    expect(frame).to_have_count(1, timeout=20_000)
    sandbox = frame.get_attribute("sandbox") or ""
    # allow-same-origin (issue 14: the page reads the frame's height) but never with allow-scripts,
    # and the frame's own CSP forbids every script as well.
    assert "allow-scripts" not in sandbox and "allow-forms" not in sandbox
    assert frame.get_attribute("sandbox") is not None
    srcdoc = frame.get_attribute("srcdoc") or ""
    assert "default-src &#39;none&#39;" in srcdoc or "default-src 'none'" in srcdoc
    assert "<script" not in srcdoc and "onerror" not in srcdoc and "javascript:" not in srcdoc
    expect(page.frame_locator(".email.is-in iframe.email-frame").locator("body")).to_contain_text(
        "signed order form"
    )
    page.wait_for_timeout(500)
    assert tracker_hits == []
    with page.expect_request("https://tracker.example/**"):
        page.get_by_role("button", name="Load remote images").click()
    page.wait_for_timeout(300)  # route handlers and dialogs are dispatched while Playwright waits
    assert tracker_hits == ["https://tracker.example/pixel.png"]
    assert tab.dialogs == [], tab.dialogs
    expect(page.locator(".thread")).to_have_count(1)
    expect(page.locator(".thread .email")).to_have_count(4)
    page.locator("#composer > summary").click()  # folded away: the conversation is the subject
    screenshot(page, "contact-record")

    # Usable at 375 px: nothing wider than the screen.
    page.set_viewport_size({"width": 375, "height": 812})
    page.reload()
    # Issue 14: the conversation shows its latest email; the earlier, read ones fold behind a count.
    expect(page.locator(".thread-earlier > summary")).to_have_text("3 earlier emails")
    expect(page.locator(".email.is-in").last).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "contact-record-mobile")
    page.locator(".email.is-in").last.get_by_role("link", name=re.compile(r"^Reply to")).click()
    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    # Without JavaScript the Reply link opens the record with the composer answering that email.
    assert re.fullmatch(rf"/contacts/{contact_id}\?reply=\d+#composer", href)
    page.goto(href)
    expect(page.locator("#composer")).to_have_attribute("open", "")
    expect(page.get_by_label("Subject", exact=True)).to_have_value("Re: Our offer")
    expect(page.locator("input[name=in_reply_to_email_id]")).to_have_value(href.split("=")[1].split("#")[0])
    assert tab.dialogs == []


def test_disconnected_inbox_shows_banner_and_reconnects(
    tab: Tab, live: LiveServer, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    assert live.app is not None
    login = new_login("dana")
    _caller, inbox = monitored_inbox(live, login, mail_server, provider_smtp, mail_user)
    page = tab.page
    sign_in(tab, login)
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    expect(page.locator(".banner")).to_have_count(0)

    # The password changes at the provider and the session drops: the monitor cannot log in again.
    new_password = "changed-" + secrets.token_hex(6)
    mail_server.set_password(mail_user.email, new_password)
    mail_server.kick(mail_user.email)
    banner = page.locator(".banner")
    expect(banner).to_contain_text(f"{mail_user.email} is disconnected", timeout=25_000)  # live, no reload
    expect(banner).to_contain_text("no longer accepts the saved password")

    page.goto("/settings")
    expect(page.locator(".banner")).to_have_count(1)  # on every page
    card = page.locator(f"#inbox-{inbox['id']}")
    expect(card).to_contain_text("Disconnected")
    expect(card).to_contain_text("Disconnected since")
    screenshot(page, "inbox-disconnected", full_page=False)
    page.locator(".banner").get_by_role("link", name="Reconnect").click()
    field = page.get_by_label(f"Current password for {mail_user.email}")
    expect(field).to_be_visible()
    field.fill(new_password)
    card.get_by_role("button", name="Reconnect").click()
    expect(page.locator(f"#inbox-{inbox['id']}")).to_contain_text("Connected")
    expect(page.locator(".banner")).to_have_count(0)
