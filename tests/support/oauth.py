"""OAuth test peers and steps: the fake provider (tests/peers/fake_oauth.py), a Dovecot that checks
its tokens through the `oauth2` passdb, a provider SMTP that takes AUTH XOAUTH2 against it, and the
grant flow driven the way a browser would (authorize → redirect → /oauth/callback)."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from inboxlink.storage.tables import oauth_states
from tests.peers.dovecot import MailServer, start_mail_server
from tests.peers.fake_oauth import FakeOAuthProvider
from tests.peers.provider_smtp import ProviderSmtp, start_provider_smtp
from tests.support.app import TestApp, TestUser

GOOGLE_ID, MICROSOFT_ID = "google-client.apps.example", "11111111-2222-3333-4444-555555555555"
PUBLIC_URL = "http://inboxlink.test"

# Dovecot's oauth2 passdb: every XOAUTH2/OAUTHBEARER login is introspected at the fake (RFC 7662),
# so a revoked or expired token is refused by the real IMAP server.
OAUTH2_DOVECOT = """
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = @DIR@/dovecot-oauth2.conf.ext
}
"""


@dataclass
class OAuthPeers:
    fake: FakeOAuthProvider
    mail: MailServer
    smtp: ProviderSmtp
    secrets: dict[str, str]

    def env(self, **extra: str) -> dict[str, str]:
        """The app's configuration: both providers pointed at the fake and these mail servers."""
        env = {"INBOXLINK_PUBLIC_URL": PUBLIC_URL}
        for p, client_id in (("GOOGLE", GOOGLE_ID), ("MICROSOFT", MICROSOFT_ID)):
            env |= {
                f"INBOXLINK_OAUTH_{p}_CLIENT_ID": client_id,
                f"INBOXLINK_OAUTH_{p}_CLIENT_SECRET": self.secrets[client_id],
                f"INBOXLINK_OAUTH_{p}_AUTHORIZE_URL": self.fake.url("/authorize"),
                f"INBOXLINK_OAUTH_{p}_TOKEN_URL": self.fake.url("/token"),
                f"INBOXLINK_OAUTH_{p}_IMAP": f"127.0.0.1:{self.mail.imaps_port}",
                # Implicit TLS: the contract takes STARTTLS only on ports 143, 587 and 25.
                f"INBOXLINK_OAUTH_{p}_SMTP": f"127.0.0.1:{self.smtp.tls_port}",
            }
        return env | extra

    def new_mailbox(self) -> str:
        address = f"o{secrets.token_hex(4)}@example.test"
        self.mail.add_user(address, secrets.token_urlsafe(12))  # the userdb entry; logins use tokens
        return address


@contextlib.contextmanager
def oauth_peers(base_dir: Path, suite_ca: MailServer) -> Iterator[OAuthPeers]:
    """All three share the suite's certificate, so SSL_CERT_FILE=suite CA verifies each of them."""
    fake = FakeOAuthProvider(suite_ca.ca_file, suite_ca.key_file)
    creds = {GOOGLE_ID: secrets.token_urlsafe(16), MICROSOFT_ID: secrets.token_urlsafe(16)}
    fake.register(GOOGLE_ID, creds[GOOGLE_ID])
    fake.register(MICROSOFT_ID, creds[MICROSOFT_ID], email_claim=False)
    mail_dir = base_dir / "dovecot-oauth"
    (mail_dir / "tls").mkdir(parents=True)
    shutil.copy(suite_ca.ca_file, mail_dir / "tls" / "cert.pem")
    shutil.copy(suite_ca.key_file, mail_dir / "tls" / "key.pem")
    (mail_dir / "dovecot-oauth2.conf.ext").write_text(
        "introspection_mode = post\n"
        f"introspection_url = {fake.url('/introspect')}\n"
        "force_introspection = yes\n"
        "username_attribute = username\n"
        "active_attribute = active\n"
        "active_value = true\n"
        f"tls_ca_cert_file = {suite_ca.ca_file}\n"
    )
    mail = start_mail_server(mail_dir, extra_config=OAUTH2_DOVECOT)
    smtp = start_provider_smtp(mail)
    smtp.token_checker = fake.active_user
    try:
        yield OAuthPeers(fake, mail, smtp, creds)
    finally:
        smtp.stop()
        mail.stop()
        fake.stop()


def ca_client(ca_file: str) -> httpx.AsyncClient:
    """The user's browser, as far as the provider is concerned: follows nothing by itself."""
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file), follow_redirects=False)


async def authorize(
    user: TestUser, peers: OAuthPeers, provider: str, address: str, inbox_id: int | None = None
) -> str:
    """Start the flow through the API and let the fake approve as `address`: the callback path
    (with code and state) the browser would be sent to."""
    peers.fake.approve_as = address
    resp = await user.post(f"/api/v1/inboxes/oauth/{provider}", {"inbox_id": inbox_id} if inbox_id else None)
    assert resp.status_code == 200, resp.text
    async with ca_client(peers.mail.ca_file) as browser:
        approved = await browser.get(resp.json()["authorization_url"])
    assert approved.status_code == 302, approved.text
    location = approved.headers["location"]
    assert location.startswith(PUBLIC_URL + "/oauth/callback?"), location
    return location.removeprefix(PUBLIC_URL)


async def run_grant(
    app: TestApp, user: TestUser, peers: OAuthPeers, provider: str, address: str, inbox_id: int | None = None
) -> dict[str, str]:
    """The whole flow up to the callback; returns the query of the settings page it redirected to."""
    path = await authorize(user, peers, provider, address, inbox_id)
    return callback_params(await app.client.get(path))


async def outcome(app: TestApp, params: dict[str, str]) -> dict[str, Any]:
    """What the callback wrote onto its state row (what the settings page shows)."""
    assert params["oauth"].isdigit(), params
    async with app.rt.engine.connect() as conn:
        found = await conn.scalar(
            select(oauth_states.c.outcome).where(oauth_states.c.id == int(params["oauth"]))
        )
    assert isinstance(found, dict)
    return found


async def connect_oauth(
    app: TestApp, peers: OAuthPeers, provider: str = "google", login: str = "seller@crm.test"
) -> tuple[TestUser, str, dict[str, Any]]:
    """A user, a fresh mailbox connected through the flow, and its inbox object."""
    user = await app.user(login)
    address = peers.new_mailbox()
    params = await run_grant(app, user, peers, provider, address)
    result = await outcome(app, params)
    assert result["code"] == "connected", result
    items = (await user.get("/api/v1/inboxes")).json()["items"]
    (inbox,) = [i for i in items if i["email"] == address]
    return user, address, inbox


def callback_params(response: httpx.Response) -> dict[str, str]:
    """The settings page address the callback redirected to, as a dict of its query."""
    assert response.status_code == 303, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
