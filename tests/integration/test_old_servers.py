"""A server without IDLE and without SPECIAL-USE (an old or minimal IMAP server): the Sent folder is
found by its name and replies are still logged, by polling."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import CLIENT
from tests.peers.dovecot import MailServer, dovecot_binary, start_mail_server
from tests.peers.provider_smtp import ProviderSmtp, start_provider_smtp
from tests.support.app import running_app, wait_for
from tests.support.flows import inbound, monitor_connected, wait_sent
from tests.support.mail import inbox_body
from tests.support.replies import make_reply


@pytest.fixture(scope="module")
def old_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MailServer, ProviderSmtp]]:
    if dovecot_binary() is None:
        pytest.skip("Dovecot is not installed: run scripts/install-test-deps (the test command does)")
    server = start_mail_server(tmp_path_factory.mktemp("old-dovecot"), special_use=False, idle=False)
    provider = start_provider_smtp(server)
    yield server, provider
    provider.stop()
    server.stop()


async def test_polling_and_sent_by_name_without_idle_or_special_use(old_server, tmp_path, monkeypatch):
    server, provider = old_server
    monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
    address = "legacy-user@example.test"
    server.add_user(address, "legacy-pass-1", folders=("Sent Messages", "Drafts"))
    account = type("Account", (), {"email": address, "password": "legacy-pass-1"})
    async with running_app(tmp_path / "data", INBOXLINK_POLL_INTERVAL="1") as app:
        user = await app.user("old@crm.test")
        resp = await user.post("/api/v1/inboxes", inbox_body(server, provider, account))
        assert resp.status_code == 201, resp.text
        inbox = resp.json()
        assert inbox["sent_folder"] == "Sent Messages"
        resp = await user.post(
            "/api/v1/emails",
            {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "Old school", "text": "t"},
        )
        sent = await wait_sent(user, resp.json()["id"])
        assert sent["sent_folder_copy"] == "Sent Messages"
        assert len(server.messages(address, "Sent Messages")) == 1
        await wait_for(lambda: monitor_connected(app, inbox["id"]))
        _id, raw = make_reply(
            sender=CLIENT, to=address, subject="Re: Old school", text="polled", in_reply_to=sent["message_id"]
        )
        server.deliver(address, raw)
        [reply] = await inbound(user, sent["contact_ids"][0])
        assert "polled" in reply["text"]
