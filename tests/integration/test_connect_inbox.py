"""Connecting a mailbox against the suite's real Dovecot and provider SMTP."""

from __future__ import annotations

import pytest

from tests.support.mail import inbox_body


async def test_connect_with_implicit_tls_and_starttls(app, mail_server, provider_smtp, mail_user):
    user = await app.user("seller1@crm.test")
    resp = await user.post(
        "/api/v1/inboxes", inbox_body(mail_server, provider_smtp, mail_user, imap="tls", smtp="starttls")
    )
    assert resp.status_code == 201, resp.text
    inbox = resp.json()
    assert inbox["status"] == "connected"
    assert inbox["sent_folder"] == "Sent"
    # No password field (the contract's `"auth": "password"` names the method, not the secret).
    assert '"password":' not in resp.text and mail_user.password not in resp.text

    resp = await user.post(
        "/api/v1/inboxes", inbox_body(mail_server, provider_smtp, mail_user, imap="starttls", smtp="tls")
    )
    assert resp.status_code == 201, resp.text
    listed = (await user.get("/api/v1/inboxes")).json()["items"]
    assert [i["email"] for i in listed] == [mail_user.email, mail_user.email]


async def test_wrong_imap_password_is_auth_failed(app, mail_server, provider_smtp, mail_user):
    user = await app.user("seller2@crm.test")
    body = inbox_body(mail_server, provider_smtp, mail_user)
    body["password"] = "not-the-password"
    resp = await user.post("/api/v1/inboxes", body)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "auth_failed"
    assert (await user.get("/api/v1/inboxes")).json()["items"] == []


async def test_untrusted_certificate_is_tls_failed(app, mail_server, provider_smtp, mail_user, monkeypatch):
    # Without the suite's CA in SSL_CERT_FILE the self-signed certificate must not be accepted.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    user = await app.user("seller3@crm.test")
    resp = await user.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, mail_user, imap="tls"))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "tls_failed"
    resp = await user.post(
        "/api/v1/inboxes", inbox_body(mail_server, provider_smtp, mail_user, imap="starttls")
    )
    assert resp.json()["error"]["code"] == "tls_failed"


@pytest.mark.parametrize("variant", ["protocol", "port", "greeting"])
async def test_pop3_is_refused_with_an_explanation(app, mail_server, provider_smtp, mail_user, variant):
    from tests.peers.pop3_stub import start_pop3_stub

    user = await app.user(f"seller-{variant}@crm.test")
    body = inbox_body(mail_server, provider_smtp, mail_user)
    stop = None
    if variant == "protocol":
        body["protocol"] = "pop3"
    elif variant == "port":
        body["imap"] = {"host": "127.0.0.1", "port": 995, "security": "tls"}
    else:
        port, stop = start_pop3_stub()
        body["imap"] = {"host": "127.0.0.1", "port": port, "security": "none"}
    try:
        resp = await user.post("/api/v1/inboxes", body)
    finally:
        if stop:
            stop()
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "pop3_not_supported"
    assert "IMAP" in error["message"] and "server" in error["message"]


async def test_wrong_smtp_password_is_smtp_auth_failed(app, mail_server, provider_smtp, mail_user):
    user = await app.user("seller4@crm.test")
    body = inbox_body(mail_server, provider_smtp, mail_user)
    # IMAP accepts the password but the provider's SMTP refuses it (an app password revoked for
    # sending only, say): the inbox must not be saved half-working.
    provider_smtp.refuse_users.add(mail_user.email)
    try:
        resp = await user.post("/api/v1/inboxes", body)
    finally:
        provider_smtp.refuse_users.discard(mail_user.email)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "smtp_auth_failed"


async def test_plaintext_to_a_remote_host_is_refused(app, mail_server, provider_smtp, mail_user):
    user = await app.user("seller5@crm.test")
    body = inbox_body(mail_server, provider_smtp, mail_user)
    body["imap"] = {"host": "imap.example.com", "port": 143, "security": "none"}
    resp = await user.post("/api/v1/inboxes", body)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "insecure_connection"


async def test_unreachable_server_is_connection_failed(app, mail_server, provider_smtp, mail_user):
    user = await app.user("seller6@crm.test")
    body = inbox_body(mail_server, provider_smtp, mail_user)
    body["imap"] = {"host": "127.0.0.1", "port": 1, "security": "tls"}
    resp = await user.post("/api/v1/inboxes", body)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "connection_failed"
