"""NOTIFY (RFC 5465) on the monitor's one connection, against real Dovecot: the user's own follow-up,
sent from their mail client and stored in Sent, is logged by the server's push, not by a poll; and
a server without NOTIFY still gets the follow-up by polling Sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.dovecot import DEFAULT_IMAP_CAPABILITY, MailServer, dovecot_binary, start_mail_server
from tests.peers.provider_smtp import ProviderSmtp, start_provider_smtp
from tests.support import app as support
from tests.support.app import running_app, wait_for
from tests.support.flows import start_conversation
from tests.support.replies import make_reply

CLIENT = "client@prospect.test"


@pytest.fixture(scope="module")
def no_notify_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MailServer, ProviderSmtp]]:
    if dovecot_binary() is None:
        pytest.skip("Dovecot is not installed: run scripts/install-test-deps (the test command does)")
    capability = " ".join(c for c in DEFAULT_IMAP_CAPABILITY if c != "NOTIFY")
    server = start_mail_server(
        tmp_path_factory.mktemp("no-notify"), extra_config=f"imap_capability = {capability}\n"
    )
    provider = start_provider_smtp(server)
    yield server, provider
    provider.stop()
    server.stop()


async def _follow_up_from_the_mail_client(
    app: support.TestApp,
    server: MailServer,
    account: Any,
    user: support.TestUser,
    inbox: dict[str, Any],
    sent: dict[str, Any],
) -> dict[str, Any]:
    """Wait until the monitor sits in its wait, store the user's follow-up in Sent as their mail
    client would (APPEND), and return it once the contact's timeline lists it."""
    monitor = app.monitor(inbox["id"])
    await wait_for(lambda: _true(monitor.waiting))
    follow_up, raw = make_reply(
        sender=account.email,
        to=CLIENT,
        subject="Re: Our offer",
        text="Any news?",
        in_reply_to=sent["message_id"],
        references=[sent["message_id"]],
    )
    server.save(account.email, "Sent", raw)

    async def logged() -> dict[str, Any] | None:
        items = (await user.get(f"/api/v1/contacts/{sent['contact_ids'][0]}/emails")).json()["items"]
        return next((e for e in items if e["message_id"] == follow_up), None)

    email = await wait_for(logged, timeout=30)
    assert email["direction"] == "outbound" and email["thread_id"] == sent["thread_id"]
    return email


async def _true(value: bool) -> bool:
    return value


async def test_follow_up_in_sent_is_logged_by_the_push(
    tmp_path: Path, mail_server: MailServer, provider_smtp: ProviderSmtp, mail_user: Any, trust_test_ca: str
) -> None:
    # Neither the poll nor the IDLE restart comes within the test: only the server's news can wake
    # the monitor, on the same connection (one session throughout, no reconnect rescanning Sent).
    env = {"INBOXLINK_POLL_INTERVAL": "3600", "INBOXLINK_IDLE_RESTART": "3600"}
    async with running_app(tmp_path / "data", **env) as app:
        user, inbox, sent = await start_conversation(
            app, mail_server, provider_smtp, mail_user, to=CLIENT, subject="Our offer", text="Hi"
        )
        monitor = app.monitor(inbox["id"])
        await _follow_up_from_the_mail_client(app, mail_server, mail_user, user, inbox, sent)
        assert monitor.notify and monitor.sessions == 1


async def test_without_notify_sent_is_still_polled(
    tmp_path: Path, no_notify_server: tuple[MailServer, ProviderSmtp], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, provider = no_notify_server
    monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
    account = type("Account", (), {"email": "plain-user@example.test", "password": "plain-pass-1"})()
    server.add_user(account.email, account.password)
    async with running_app(tmp_path / "data", INBOXLINK_POLL_INTERVAL="1") as app:
        user, inbox, sent = await start_conversation(
            app, server, provider, account, to=CLIENT, subject="Our offer", text="Hi"
        )
        await _follow_up_from_the_mail_client(app, server, account, user, inbox, sent)
        assert not app.monitor(inbox["id"]).notify
