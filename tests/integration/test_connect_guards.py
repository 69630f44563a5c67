"""The connect form is not a port scanner: another service's bytes are never quoted back, private
addresses are refused where the installation faces the Internet, and attempts are rate-limited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from inboxlink import imap
from inboxlink.smtp import SmtpServer, SmtpTlsFailed, verify_login
from inboxlink.storage.tables import inboxes
from tests.peers.banner import MARIADB_HANDSHAKE, NATS_INFO, start_banner_server
from tests.support.app import running_app, wait_for
from tests.support.mail import inbox_body

# Fragments of the banners above: none may appear in anything the user is shown.
SECRETS = (
    "server_id",
    "NBANNERSECRETID",
    "internal-nats",
    "max_payload",
    "MariaDB",
    "SaLtSeCr",
    "mysql_native",
)


@pytest.fixture(params=[NATS_INFO, MARIADB_HANDSHAKE], ids=["nats", "mariadb"])
def other_service(request: pytest.FixtureRequest) -> Iterator[int]:
    port, stop = start_banner_server(request.param)
    yield port
    stop()


def assert_not_quoted(text: str) -> None:
    for fragment in SECRETS:
        assert fragment not in text, f"{fragment!r} was echoed back: {text}"


async def test_imap_port_of_another_service_is_not_quoted(
    app, mail_server, provider_smtp, mail_user, other_service
):
    user = await app.user("scanner1@crm.test")
    body = inbox_body(mail_server, provider_smtp, mail_user)
    body["imap"] = {"host": "127.0.0.1", "port": other_service, "security": "none"}
    resp = await user.post("/api/v1/inboxes", body)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "not_an_imap_server"
    assert "is not an IMAP server" in error["message"]
    assert_not_quoted(resp.text)
    assert (await user.get("/api/v1/inboxes")).json()["items"] == []


async def test_smtp_port_of_another_service_is_not_quoted(
    app, mail_server, provider_smtp, mail_user, other_service
):
    user = await app.user("scanner2@crm.test")
    body = inbox_body(mail_server, provider_smtp, mail_user)  # IMAP is the real Dovecot
    body["smtp"] = {"host": "127.0.0.1", "port": other_service, "security": "none"}
    resp = await user.post("/api/v1/inboxes", body)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] in {"not_an_smtp_server", "connection_failed"}
    assert "SMTP" in error["message"]
    assert_not_quoted(resp.text)


async def test_web_form_does_not_quote_another_service(
    app, mail_server, provider_smtp, mail_user, other_service
):
    from tests.integration.test_web_sessions import _csrf

    await app.user("scanner3@crm.test")
    page = await app.client.get("/login")
    data = {"email": "scanner3@crm.test", "password": "correct horse battery", "csrf_token": _csrf(page.text)}
    assert (await app.client.post("/login", data=data)).status_code == 303
    settings = await app.client.get("/settings")
    form = {
        "csrf_token": _csrf(settings.text),
        "email": mail_user.email,
        "password": mail_user.password,
        "protocol": "imap",
        "imap_host": "127.0.0.1",
        "imap_port": str(other_service),
        "imap_security": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": str(provider_smtp.starttls_port),
        "smtp_security": "starttls",
    }
    resp = await app.client.post("/settings/inboxes", data=form)
    assert resp.status_code == 422
    assert "isn’t an IMAP mail server" in resp.text
    assert_not_quoted(resp.text)


# ---- private addresses ----------------------------------------------------------------------------


@pytest.fixture
async def public_app(tmp_path: Path, trust_test_ca: Any) -> Any:
    """An installation reached at a public URL: private hosts are refused by default."""
    async with running_app(tmp_path / "data", INBOXLINK_PUBLIC_URL="https://crm.example.com") as test_app:
        yield test_app


@pytest.mark.parametrize(
    ("where", "host"),
    [
        ("imap", "127.0.0.1"),
        ("imap", "localhost"),
        ("imap", "::ffff:127.0.0.1"),
        ("imap", "169.254.169.254"),
        ("imap", "10.20.30.40"),
        ("smtp", "127.0.0.1"),
        ("smtp", "0.0.0.0"),
        ("smtp", "fd00::25"),
    ],
)
async def test_private_hosts_are_refused_on_a_public_installation(
    public_app, mail_server, provider_smtp, mail_user, where, host
):
    user = await public_app.user(f"ssrf-{where}-{host.replace(':', '-')}@crm.test")
    body = inbox_body(mail_server, provider_smtp, mail_user)
    if where == "smtp":
        # A public IMAP address passes; both servers are checked before either is contacted.
        body["imap"]["host"] = "93.184.215.14"
    body[where]["host"] = host
    resp = await user.post("/api/v1/inboxes", body)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "private_address_refused"
    assert error["field"] == f"{where}.host"
    assert "INBOXLINK_ALLOW_PRIVATE_HOSTS" in error["message"]
    assert (await user.get("/api/v1/inboxes")).json()["items"] == []


async def test_an_administrator_can_allow_private_hosts(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    env = {"INBOXLINK_PUBLIC_URL": "https://crm.example.com", "INBOXLINK_ALLOW_PRIVATE_HOSTS": "true"}
    async with running_app(tmp_path / "data", worker=False, **env) as test_app:
        user = await test_app.user("lan@crm.test")
        resp = await user.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, mail_user))
        assert resp.status_code == 201, resp.text


async def test_clients_connect_to_the_checked_address_and_verify_tls_for_the_name(
    mail_server, provider_smtp, trust_test_ca
):
    # The name is never looked up (".invalid" cannot resolve): the checked address is used...
    client = await imap.ImapClient.connect("imap.invalid", mail_server.imap_port, "none", address="127.0.0.1")
    assert "IMAP4REV1" in client.capabilities
    await client.logout()
    # ...and TLS is verified for the name, not the address: the certificate names "localhost".
    client = await imap.ImapClient.connect("localhost", mail_server.imaps_port, "tls", address="127.0.0.1")
    await client.logout()
    with pytest.raises(imap.TlsFailed):
        await imap.ImapClient.connect("imap.invalid", mail_server.imaps_port, "tls", address="127.0.0.1")
    import ssl

    context = ssl.create_default_context()
    with pytest.raises(SmtpTlsFailed):
        await verify_login(
            SmtpServer("smtp.invalid", provider_smtp.tls_port, "tls", "u", "p", address="127.0.0.1"), context
        )
    # the right name on the pinned address gets as far as the password check
    with pytest.raises(Exception) as refused:
        await verify_login(
            SmtpServer("localhost", provider_smtp.tls_port, "tls", "u", "p", address="127.0.0.1"), context
        )
    assert "refused the user name or password" in str(refused.value)


# ---- rate limit ---------------------------------------------------------------------------------


async def test_connect_attempts_are_rate_limited_per_user(app, mail_server, provider_smtp, mail_user):
    scanner = await app.user("scanner4@crm.test")
    closed = inbox_body(mail_server, provider_smtp, mail_user)
    closed["imap"] = {"host": "127.0.0.1", "port": 1, "security": "none"}  # nothing listens: fails at once
    for _ in range(10):
        resp = await scanner.post("/api/v1/inboxes", closed)
        assert resp.json()["error"]["code"] == "connection_failed"
    resp = await scanner.post("/api/v1/inboxes", closed)
    assert resp.status_code == 429
    error = resp.json()["error"]
    assert error["code"] == "too_many_attempts"
    assert "Try again in 10 minutes" in error["message"]
    # even a good request waits now, and so does re-crediting an inbox
    assert (
        await scanner.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, mail_user))
    ).status_code == 429
    # another user is not affected, and successful connects do not use up the allowance
    seller = await app.user("seller-many@crm.test")
    for _ in range(12):
        resp = await seller.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, mail_user))
        assert resp.status_code == 201, resp.text
    inbox_id = resp.json()["id"]
    for _ in range(10):
        resp = await seller.put(f"/api/v1/inboxes/{inbox_id}/credentials", {"password": "wrong"})
        assert resp.json()["error"]["code"] == "auth_failed"
    resp = await seller.put(f"/api/v1/inboxes/{inbox_id}/credentials", {"password": mail_user.password})
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "too_many_attempts"


async def test_the_web_connect_form_is_rate_limited_too(app, mail_server, provider_smtp, mail_user):
    from tests.integration.test_web_sessions import _csrf

    await app.user("scanner5@crm.test")
    page = await app.client.get("/login")
    data = {"email": "scanner5@crm.test", "password": "correct horse battery", "csrf_token": _csrf(page.text)}
    assert (await app.client.post("/login", data=data)).status_code == 303
    form = {
        "email": mail_user.email,
        "password": mail_user.password,
        "protocol": "imap",
        "imap_host": "127.0.0.1",
        "imap_port": "1",  # nothing listens there
        "imap_security": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": str(provider_smtp.starttls_port),
        "smtp_security": "starttls",
    }
    for _ in range(10):
        form["csrf_token"] = _csrf((await app.client.get("/settings")).text)
        assert (await app.client.post("/settings/inboxes", data=form)).status_code == 422
    form["csrf_token"] = _csrf((await app.client.get("/settings")).text)
    resp = await app.client.post("/settings/inboxes", data=form)
    assert resp.status_code == 429
    assert "Too many connection attempts" in resp.text and "Try again in 10 minutes" in resp.text


async def test_a_connected_server_that_now_resolves_privately_is_not_followed(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    """The check is made at every session, not only when the inbox is connected: a server name
    that was allowed then and points into the installation's own network now (DNS rebinding, or a
    change of INBOXLINK_ALLOW_PRIVATE_HOSTS) is not connected to, and the inbox says why."""
    data = tmp_path / "data"
    async with running_app(data, worker=False) as lan:  # connected while private hosts were allowed
        user = await lan.user("rebind@crm.test")
        resp = await user.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, mail_user))
        assert resp.status_code == 201, resp.text
        inbox_id = resp.json()["id"]
    async with running_app(data, INBOXLINK_PUBLIC_URL="https://crm.example.com") as app:

        async def refused() -> Any:
            async with app.rt.engine.connect() as conn:
                row = (await conn.execute(select(inboxes).where(inboxes.c.id == inbox_id))).one()
            return row if "INBOXLINK_ALLOW_PRIVATE_HOSTS" in (row.last_error or "") else None

        row = await wait_for(refused, timeout=20)
        assert "loopback" in row.last_error
        assert app.monitor(inbox_id).sessions == 0  # never got as far as a session
