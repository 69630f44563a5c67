"""Shared pytest fixtures: the real mail peers (tests/peers) for integration and e2e tests."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.peers.dovecot import MailServer, MailUser, dovecot_binary, start_mail_server
from tests.peers.provider_smtp import ProviderSmtp, start_provider_smtp
from tests.support.receiver import Receiver, start_receiver

__all__ = ["MailUser"]  # re-exported for type hints; it lives in tests.peers.dovecot

_user_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def mail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    """One Dovecot for the whole session; its log stays at <dir>/log/dovecot.log."""
    if dovecot_binary() is None:
        pytest.skip("Dovecot is not installed: run scripts/install-test-deps (the test command does)")
    # Start errors (DovecotError) carry the tail of Dovecot's log.
    server = start_mail_server(tmp_path_factory.mktemp("dovecot"))
    try:
        yield server
    finally:
        try:
            server.stop()
        except Exception:
            print(server.log_tail())
            raise


@pytest.fixture(scope="session")
def provider_smtp(mail_server: MailServer) -> Iterator[ProviderSmtp]:
    """The provider's submission server; tests that set `rewrite_message_id` must reset it."""
    provider = start_provider_smtp(mail_server)
    yield provider
    provider.stop()


@pytest.fixture
def mail_user(mail_server: MailServer) -> MailUser:
    """A fresh mailbox (with Sent, Drafts, Trash) that no other test touches."""
    user = MailUser(
        email=f"u{next(_user_numbers)}-{secrets.token_hex(3)}@example.test",
        password=secrets.token_urlsafe(12),
    )
    mail_server.add_user(user.email, user.password)
    return user


@pytest.fixture
def trust_test_ca(mail_server: MailServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make ssl.create_default_context() trust the peers' certificate (via SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", mail_server.ca_file)
    return mail_server.ca_file


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback (tests/support/receiver.py), closed after the test."""
    r = start_receiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def oauth_setup(tmp_path_factory: pytest.TempPathFactory, mail_server: MailServer) -> Iterator[Any]:
    """The FAKE OAuth provider (Google's/Microsoft's web endpoints) and the real mail servers that
    check its tokens: a Dovecot with the oauth2 passdb and a provider SMTP taking AUTH XOAUTH2."""
    from tests.support.oauth import oauth_peers

    with oauth_peers(tmp_path_factory.mktemp("oauth"), mail_server) as peers:
        yield peers
