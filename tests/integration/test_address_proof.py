"""An inbox is connected under an address its login owns: the login itself, or an address whose mail
really arrives in the login's INBOX (proved with a one-time test message, deleted afterwards)."""

from __future__ import annotations

import secrets
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from inboxlink.services.accounts.address_proof import PROOF_HEADER
from inboxlink.storage.tables import emails
from tests.peers.dovecot import MailUser
from tests.support.app import running_app
from tests.support.mail import inbox_body


@pytest.fixture
async def app(tmp_path: Path, trust_test_ca: Any) -> Any:
    # A short wait for the test message: the refused cases wait it out in full.
    async with running_app(tmp_path / "data", INBOXLINK_ADDRESS_CHECK_TIMEOUT="3") as test_app:
        yield test_app


def new_mailbox(mail_server: Any, name: str) -> MailUser:
    user = MailUser(f"{name}-{secrets.token_hex(3)}@example.test", secrets.token_urlsafe(12))
    mail_server.add_user(user.email, user.password)
    return user


def proof_messages(mail_server: Any, mailbox: MailUser) -> list[bytes]:
    return [m for m in mail_server.messages(mailbox.email) if PROOF_HEADER.encode() in m]


async def email_rows(app: Any) -> int:
    async with app.rt.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(emails)) or 0)


async def test_someone_elses_address_is_refused_and_nothing_is_saved(app, mail_server, provider_smtp, caplog):
    alice, bob = new_mailbox(mail_server, "alice"), new_mailbox(mail_server, "bob")
    user = await app.user("bob@crm.test")
    body = inbox_body(mail_server, provider_smtp, bob, email=alice.email)  # Bob's login, alice's address
    caplog.set_level("DEBUG")
    resp = await user.post("/api/v1/inboxes", body)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "address_not_verified"
    assert alice.email in error["message"] and "did not arrive" in error["message"]
    assert (await user.get("/api/v1/inboxes")).json()["items"] == []
    assert await email_rows(app) == 0
    # The test message went where mail to alice goes — her INBOX, not Bob's — and says why it came.
    assert proof_messages(mail_server, bob) == []
    [received] = proof_messages(mail_server, alice)
    probe = message_from_bytes(received)
    assert probe["Subject"] == "inboxlink address check" and probe["Auto-Submitted"] == "auto-generated"
    token = probe[PROOF_HEADER]
    # It is not a tracked email: its one-time token is nowhere in the data dir or the log.
    for path in app.data_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    # (mail.log is the test provider's own aiosmtpd, which logs every DATA line at DEBUG.)
    ours = [r.getMessage() for r in caplog.records if r.name != "mail.log"]
    assert ours and not any(token in line for line in ours)


async def test_an_alias_that_reaches_the_login_is_accepted_and_the_test_message_is_gone(
    app, mail_server, provider_smtp
):
    bob = new_mailbox(mail_server, "bob")
    alias = f"sales-{secrets.token_hex(3)}@example.test"
    provider_smtp.aliases[alias] = bob.email
    # Bob's own mail, one of it flagged \Deleted but kept (not expunged): both must survive.
    mail_server.deliver(bob.email, b"Subject: keep me\r\n\r\nmine\r\n")
    mail_server.deliver(bob.email, b"Subject: deleted but kept\r\n\r\nmine too\r\n")
    mail_server.doveadm("flags", "add", "-u", bob.email, "\\Deleted", "mailbox", "INBOX", "2")
    user = await app.user("bob2@crm.test")
    try:
        resp = await user.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, bob, email=alias))
    finally:
        provider_smtp.aliases.pop(alias)
    assert resp.status_code == 201, resp.text
    assert resp.json()["email"] == alias
    assert proof_messages(mail_server, bob) == []
    kept = mail_server.messages(bob.email)
    assert [message_from_bytes(m)["Subject"] for m in kept] == ["keep me", "deleted but kept"]
    assert mail_server.flags(bob.email)[1] == {"\\Deleted"}
    assert await email_rows(app) == 0

    # New credentials prove the address again: without the alias they are refused, nothing changes.
    resp = await user.put(f"/api/v1/inboxes/{resp.json()['id']}/credentials", {"password": bob.password})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "address_not_verified"


async def test_the_login_itself_needs_no_test_message(app, mail_server, provider_smtp):
    bob = new_mailbox(mail_server, "bob")
    user = await app.user("bob3@crm.test")
    body = inbox_body(mail_server, provider_smtp, bob, email=bob.email.upper())  # case does not matter
    resp = await user.post("/api/v1/inboxes", body)
    assert resp.status_code == 201, resp.text
    assert mail_server.messages(bob.email) == []  # nothing was sent


async def test_an_address_that_is_another_users_is_refused_before_any_server(app, mail_server, provider_smtp):
    """Servers the user chooses can fake any test message, so a teammate's address (their login, or
    an inbox they connected) is refused outright — and the same mailbox login does not help."""
    alice, bob = new_mailbox(mail_server, "alice"), new_mailbox(mail_server, "bob")
    alice_user = await app.user(alice.email)
    created = await alice_user.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, alice))
    assert created.status_code == 201, created.text
    bob_user = await app.user("bob@crm.test")
    for address in (alice.email, alice.email.upper()):
        resp = await bob_user.post(
            "/api/v1/inboxes", inbox_body(mail_server, provider_smtp, bob, email=address)
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "address_in_use"
        assert resp.json()["error"]["field"] == "email"
    carol = await app.user("carol@crm.test")  # a login address, even without an inbox, is its user's
    resp = await carol.post(
        "/api/v1/inboxes", inbox_body(mail_server, provider_smtp, bob, email="bob@crm.test")
    )
    assert resp.json()["error"]["code"] == "address_in_use"
    assert proof_messages(mail_server, bob) == []  # refused before any server was contacted
    listed = (await bob_user.get("/api/v1/inboxes")).json()["items"]  # the team's: alice's only
    assert [(i["id"], i["email"]) for i in listed] == [(created.json()["id"], alice.email)]
