"""Helpers for the browser tests: signing in, a connected inbox made through the services, and a
hostile HTML reply."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from inboxlink.services.accounts import inboxes
from inboxlink.services.crm import contacts, records
from inboxlink.services.mail import compose
from tests.e2e.browser import Tab
from tests.e2e.live_server import PASSWORD, LiveServer
from tests.support.mail import inbox_body

CLIENT = "chris@prospect.test"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def new_login(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}@crm.test"


def sign_in(tab: Tab, email: str, password: str = PASSWORD) -> None:
    page = tab.page
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def connect_via_service(live: LiveServer, login: str, mail_server: Any, provider: Any, mail_user: Any) -> Any:
    assert live.app is not None
    caller = live.user(login, "Sam Seller")
    inbox = live.call(
        inboxes.connect_inbox(live.app.rt, caller, inbox_body(mail_server, provider, mail_user))
    )
    return caller, inbox


def monitored_inbox(live: LiveServer, login: str, mail_server: Any, provider: Any, mail_user: Any) -> Any:
    """connect_via_service, and its monitor's session up: (caller, inbox)."""
    assert live.app is not None
    app = live.app
    caller, inbox = connect_via_service(live, login, mail_server, provider, mail_user)
    wait_until(lambda: app.monitor(inbox["id"]) is not None and app.monitor(inbox["id"]).connected.is_set())
    return caller, inbox


def live_conversation(
    live: LiveServer, login: str, mail_server: Any, provider: Any, mail_user: Any
) -> tuple[Any, dict[str, Any], dict[str, Any], dict[str, Any], str]:
    """A monitored inbox, the contact Chris Client and one email sent to him ("Our offer"):
    (caller, inbox, contact, sent email, its Message-ID once it is out)."""
    assert live.app is not None
    app = live.app
    caller, inbox = monitored_inbox(live, login, mail_server, provider, mail_user)
    contact = live.call(contacts.create_contact(app.rt, caller, {"email": CLIENT, "name": "Chris Client"}))
    body = {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "Our offer", "text": "Hi Chris"}
    sent = live.call(compose.send_email(app.rt, caller, body))
    message_id = wait_until(lambda: live.call(records.get_email(app.rt, caller, sent["id"]))["message_id"])
    return caller, inbox, contact, sent, message_id


def wait_until(predicate: Any, timeout: float = 20.0) -> Any:
    """Poll from the test thread (this does not pump Playwright events: use page waits for those)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.1)
    return value


def hostile_reply(mail_user: Any, in_reply_to: str) -> bytes:
    msg = EmailMessage()
    msg["Message-ID"] = make_msgid(domain="prospect.test")
    msg["From"] = f"Chris Client <{CLIENT}>"
    msg["To"] = mail_user.email
    msg["Subject"] = "Re: Our offer"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["In-Reply-To"] = f"<{in_reply_to}>"
    msg.set_content("Signed order attached. Logo: (image)")
    msg.add_alternative(
        "<div style='font-family:Georgia,serif'>"
        "<p>Hi Sam,</p><p>the <b>signed order form</b> is on its way — see you Thursday.</p>"
        "<script>alert('script')</script>"
        "<img src='https://tracker.example/pixel.png' alt='logo' width='1' height='1'>"
        "<img src='x' onerror=\"alert('onerror')\">"
        "<svg onload=\"alert('svg')\"></svg>"
        "<a href=\"javascript:alert('link')\">details</a>"
        "<iframe srcdoc=\"<script>alert('frame')</script>\"></iframe>"
        "<p style='color:#555'>— Chris</p></div>",
        subtype="html",
    )
    return msg.as_bytes()
