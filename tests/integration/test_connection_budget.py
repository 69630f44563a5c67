"""The connection budget (docs/compatibility.md): providers cap an account's simultaneous IMAP
connections (Gmail 15, Exchange Online ~20, some hosts 4), and the user's own mail apps need most of
them. inboxlink holds one long-lived connection per inbox (the monitor) and, while an email is
sent, one short one for the Sent copy, opened after SMTP is done. Counted on a real Dovecot with
`doveadm who` while the inbox is monitored and emails are sent one after another."""

from __future__ import annotations

import threading
from typing import Any

from tests.support import app as support
from tests.support.app import wait_for
from tests.support.flows import connect, monitor_connected, wait_sent


def imap_connections(mail_server: Any, user: str) -> int:
    listing = mail_server.doveadm("who", "-1")
    return sum(1 for line in listing.splitlines() if line.split()[:2] == [user, "imap"])


async def test_one_long_connection_per_inbox_and_one_short_one_per_send(
    app: support.TestApp, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    login = mail_user.email.lower()
    seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:  # doveadm runs outside the event loop: the sends go on meanwhile
        while not stop.is_set():
            seen.append(imap_connections(mail_server, login))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for n in range(3):
            resp = await user.post(
                "/api/v1/emails",
                {
                    "inbox_id": inbox["id"],
                    "to": [{"email": f"c{n}@prospect.test"}],
                    "subject": f"s{n}",
                    "text": "t",
                },
            )
            sent = await wait_sent(user, resp.json()["id"])
            assert sent["status"] == "sent" and sent["sent_folder_copy"], sent
    finally:
        stop.set()
        sampler.join()
    assert seen and max(seen) <= 2, seen  # the monitor's, plus at most one for a Sent copy
    assert 1 in seen  # between sends only the monitor's stays open
    assert imap_connections(mail_server, login) == 1
