"""The shared TLS context (services.platform.trust) against the suite's real Dovecot over TLS:
one context serves every connection, and a changed SSL_CERT_FILE is honoured without a restart."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from inboxlink.imap import ImapClient, TlsFailed
from inboxlink.services.platform.trust import TrustStore
from tests.peers.dovecot import MailServer
from tests.peers.tls import make_self_signed


async def _connects(mail_server: MailServer, store: TrustStore) -> bool:
    try:
        client = await ImapClient.connect(
            "localhost", mail_server.imaps_port, "tls", ssl_context=store.context(), timeout=10
        )
    except TlsFailed:
        return False
    await client.logout()
    return True


def _swap_in(bundle: Path, source: str) -> None:
    """Replace the bundle's contents in place, as a package update of a CA file would."""
    shutil.copyfile(source, bundle)
    os.utime(bundle)


async def test_one_context_for_every_connection(mail_server: MailServer, trust_test_ca: str) -> None:
    store = TrustStore()
    assert all([await _connects(mail_server, store) for _ in range(3)])
    assert store.context() is store.context()
    assert store.builds == 1


async def test_a_changed_ca_bundle_is_honoured_without_restart(
    mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_ca, _ = make_self_signed(tmp_path / "other-ca")  # a CA that never signed Dovecot's certificate
    bundle = tmp_path / "bundle.pem"
    _swap_in(bundle, mail_server.ca_file)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    store = TrustStore()

    assert await _connects(mail_server, store)
    _swap_in(bundle, str(other_ca))  # the suite's CA is gone from the bundle: refused from now on
    assert not await _connects(mail_server, store)
    _swap_in(bundle, mail_server.ca_file)  # and back: accepted again, same process, same store
    assert await _connects(mail_server, store)
    assert store.builds == 3


async def test_pointing_ssl_cert_file_elsewhere_is_honoured(
    mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_ca, _ = make_self_signed(tmp_path / "other-ca")
    store = TrustStore()
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))
    assert not await _connects(mail_server, store)
    monkeypatch.setenv("SSL_CERT_FILE", mail_server.ca_file)
    assert await _connects(mail_server, store)


async def test_https_clients_get_a_context_of_their_own(mail_server: MailServer, trust_test_ca: str) -> None:
    # httpx sets ALPN ("http/1.1") on the context it is given: that must not reach a mail server.
    store = TrustStore()
    https = store.context("https")
    https.set_alpn_protocols(["http/1.1"])
    assert store.context() is not https and store.context("https") is https
    assert await _connects(mail_server, store)
