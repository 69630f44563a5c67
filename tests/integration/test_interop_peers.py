"""The core flow against every real IMAP server the suite can run: Dovecot, Courier-IMAP and Cyrus
IMAP (Courier and Cyrus unpacked from Debian packages: tests/peers/unpacked.py; Cyrus with Postfix
as the submission server, SASL through Cyrus's sasldb). Connect through the API, send with an attachment, one copy in Sent, a reply logged, a restart and a reply logged again,
untracked mail not stored — and the quirks each of them showed (docs/compatibility.md)."""

from __future__ import annotations

import base64
import email
import secrets
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from inboxlink.storage.tables import folder_cursors
from tests.peers import courier, cyrus, postfix
from tests.peers.provider_smtp import ProviderSmtp
from tests.support import app as support
from tests.support.app import running_app, wait_for
from tests.support.flows import connect, inbound, wait_sent
from tests.support.mail import inbox_body
from tests.support.replies import make_reply

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
CLIENT = "client@prospect.test"

pytestmark = pytest.mark.peers


def _start(name: str, directory: Path) -> Any:
    if name == "cyrus":
        reason = cyrus.unavailable()
        if reason:
            pytest.skip(f"Cyrus IMAP: {reason}")
        return cyrus.start_cyrus(directory)
    reason = courier.unavailable()
    if reason:
        pytest.skip(f"Courier-IMAP: {reason}")
    return courier.start_courier(directory)


@pytest.fixture(scope="module")
def unpacked_peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    started: dict[str, Any] = {}
    yield started
    for peer in started.values():
        peer.stop()


@pytest.fixture(params=["dovecot", "courier", "cyrus"])
def peer(request: pytest.FixtureRequest, unpacked_peers: dict[str, Any], mail_server: Any) -> Any:
    name = request.param
    if name == "dovecot":
        return mail_server
    if name not in unpacked_peers:
        unpacked_peers[name] = _start(name, request.getfixturevalue("tmp_path_factory").mktemp(name))
    return unpacked_peers[name]


@pytest.fixture
def smtp(
    peer: Any, unpacked_peers: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The user's submission server: Postfix beside Cyrus (started once per module: ~2 s), else
    the suite's provider SMTP."""
    if getattr(peer, "name", "dovecot") == "cyrus":
        if "postfix" not in unpacked_peers:
            reason = postfix.unavailable()
            if reason:
                pytest.skip(f"Postfix: {reason}")
            unpacked_peers["postfix"] = postfix.start_postfix(tmp_path_factory.mktemp("postfix"), peer)
        yield unpacked_peers["postfix"]
        return
    provider = ProviderSmtp(peer)
    yield provider
    provider.stop()


@pytest.fixture
def account(peer: Any) -> Any:
    user = _Account(f"u-{secrets.token_hex(4)}@example.test", secrets.token_urlsafe(12))
    peer.add_user(user.email, user.password)
    return user


class _Account:
    def __init__(self, email: str, password: str) -> None:
        self.email, self.password = email, password


@pytest.fixture
async def app(tmp_path: Path, peer: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SSL_CERT_FILE", peer.ca_file)
    async with running_app(tmp_path / "data") as test_app:
        yield test_app


def _sent_folder(peer: Any) -> str:
    return getattr(peer, "sent_folder", "Sent")


async def _send(user: Any, inbox: dict[str, Any], to: str, subject: str) -> dict[str, Any]:
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": to}],
            "subject": subject,
            "text": "Hello,\nthe offer is attached.\n",
            "attachments": [
                {
                    "filename": "offer.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(PDF).decode(),
                }
            ],
        },
    )
    assert resp.status_code == 202, resp.text
    return await wait_sent(user, resp.json()["id"])


async def _relayed(smtp: Any, message_id: str) -> tuple[str, list[str], bytes] | None:
    for item in smtp.received:
        if f"<{message_id}>".encode() in item[2]:
            return item  # type: ignore[no-any-return]
    return None


async def _monitor_up(app: support.TestApp, inbox_id: int) -> bool:
    monitor = app.monitor(inbox_id)
    return monitor is not None and monitor.connected.is_set()


async def test_core_flow(app, peer, smtp, account, tmp_path):
    if getattr(peer, "name", "") == "cyrus":  # a fresh Cyrus account: Sent autocreated as \\Sent
        assert peer.special_use(account.email)["INBOX.Sent"] == {"\\sent"}
    user, inbox = await connect(app, peer, smtp, account)
    assert inbox["sent_folder"] == _sent_folder(peer)
    sent = await _send(user, inbox, CLIENT, "Our offer")
    assert sent["status"] == "sent" and sent["error"] is None, sent["error"]
    assert sent["sent_folder_copy"] == _sent_folder(peer)

    # One copy in Sent, and the attachment in it is byte-identical.
    copies = peer.messages(account.email, _sent_folder(peer))
    assert len(copies) == 1
    msg = email.message_from_bytes(copies[0], policy=policy.default)
    assert msg["Message-ID"].strip() == f"<{sent['message_id']}>"
    [part] = list(msg.iter_attachments())  # type: ignore[attr-defined]
    assert part.get_content() == PDF
    # And as the recipient got it (through Postfix's queue for Cyrus: relayed a moment later).
    relayed = await wait_for(lambda: _relayed(smtp, sent["message_id"]))
    assert relayed[1] == [CLIENT]
    [part] = list(email.message_from_bytes(relayed[2], policy=policy.default).iter_attachments())  # type: ignore[attr-defined]
    assert part.get_content() == PDF

    await wait_for(lambda: _monitor_up(app, inbox["id"]))
    _, raw = make_reply(
        sender=CLIENT, to=account.email, subject="Re: Our offer", text="Looks good",
        in_reply_to=sent["message_id"],
    )  # fmt: skip
    peer.deliver(account.email, raw)
    _, stranger = make_reply(sender="news@elsewhere.test", to=account.email, subject="Sale!", text="50% off")
    peer.deliver(account.email, stranger)
    [reply] = await inbound(user, sent["contact_ids"][0])
    assert reply["subject"] == "Re: Our offer" and reply["thread_id"] == sent["thread_id"]

    # Restart: a new process, the same database; a reply that arrives meanwhile is logged once.
    data_dir = app.data_dir
    _, second = make_reply(
        sender=CLIENT, to=account.email, subject="Re: Our offer", text="And one more thing",
        in_reply_to=sent["message_id"],
    )  # fmt: skip
    async with running_app(data_dir) as again:
        peer.deliver(account.email, second)
        replies = await inbound(
            user.__class__(user.caller, user.token, again.client), sent["contact_ids"][0], 2
        )
        assert sorted(r["text"].strip() for r in replies) == ["And one more thing", "Looks good"]
        # Untracked mail is not stored anywhere.
        found = (await again.client.get(
            "/api/v1/contacts", params={"email": "news@elsewhere.test"},
            headers={"Authorization": f"Bearer {user.token}"},
        )).json()["items"]  # fmt: skip
        assert found == []
        status = (
            await again.client.get(
                f"/api/v1/inboxes/{inbox['id']}", headers={"Authorization": f"Bearer {user.token}"}
            )
        ).json()
        assert status["status"] == "connected" and status["last_error"] is None, status


@pytest.mark.parametrize("peer", ["cyrus"], indirect=True)
async def test_cyrus_sent_folder_found_by_name(app, peer, smtp):
    """A Cyrus mailbox set up by an administrator (plain CREATEs, no special-use flag): Sent is
    found by its name, INBOX.Sent, and gets the one copy."""
    user_ = _Account(f"n-{secrets.token_hex(4)}@example.test", secrets.token_urlsafe(12))
    peer.add_user(user_.email, user_.password, special_use=False)
    assert peer.special_use(user_.email) == {"INBOX": set(), "INBOX.Sent": set()}
    user, inbox = await connect(app, peer, smtp, user_)
    assert inbox["sent_folder"] == "INBOX.Sent"
    sent = await _send(user, inbox, CLIENT, "By name")
    assert sent["status"] == "sent" and sent["sent_folder_copy"] == "INBOX.Sent", sent
    [copy] = peer.messages(user_.email, "INBOX.Sent")
    assert email.message_from_bytes(copy)["Message-ID"].strip() == f"<{sent['message_id']}>"


async def test_monitoring_starts_at_connection_time(app, peer, smtp, account):
    """Mail already in the mailbox is not read: the cursor starts at its last UID, also where the
    server's SELECT has no UIDNEXT (Courier)."""
    for n in range(3):
        _, raw = make_reply(sender=f"old{n}@elsewhere.test", to=account.email, subject=f"old {n}", text="x")
        peer.deliver(account.email, raw)
    assert len(peer.messages(account.email)) == 3
    _user, inbox = await connect(app, peer, smtp, account)
    async with app.rt.engine.connect() as conn:
        last_uid = await conn.scalar(
            select(folder_cursors.c.last_uid).where(
                folder_cursors.c.inbox_id == inbox["id"], folder_cursors.c.folder == "INBOX"
            )
        )
    assert last_uid == 3


async def test_new_mailbox_stays_connected_through_many_passes(tmp_path, peer, smtp, account, monkeypatch):
    """Courier renumbers a folder on every EXAMINE until it has been opened read-write once: a
    brand-new mailbox must not end up disconnected as `uidvalidity_unstable`."""
    monkeypatch.setenv("SSL_CERT_FILE", peer.ca_file)
    async with running_app(
        tmp_path / "data", INBOXLINK_POLL_INTERVAL="0.3", INBOXLINK_IDLE_RESTART="0.3"
    ) as app:
        user, inbox = await connect(app, peer, smtp, account)
        await wait_for(lambda: _monitor_up(app, inbox["id"]))
        monitor = app.monitor(inbox["id"])
        passes = monitor.folder_syncs

        async def many() -> bool:
            return monitor.folder_syncs >= passes + 16  # 8 rounds of Sent + INBOX

        await wait_for(many, timeout=30)
        status = (await user.get(f"/api/v1/inboxes/{inbox['id']}")).json()
        assert status["status"] == "connected", status
        async with app.rt.engine.connect() as conn:
            changes = (
                (
                    await conn.execute(
                        select(folder_cursors.c.uidvalidity_changes).where(
                            folder_cursors.c.inbox_id == inbox["id"]
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert set(changes) == {0}, "no folder was renumbered"


async def test_last_error_clears_when_the_server_is_back(tmp_path, peer, account, monkeypatch, request):
    """The IMAP server restarts: `last_error` says what is wrong now, not what was wrong an hour
    ago, and a reply that arrives after the restart is logged."""
    if getattr(peer, "name", "dovecot") == "dovecot":
        pytest.skip(
            "restarting the shared Dovecot would disturb other tests; the Courier and Cyrus runs cover it"
        )
    monkeypatch.setenv("SSL_CERT_FILE", peer.ca_file)
    provider = ProviderSmtp(peer)
    try:
        async with running_app(tmp_path / "data") as app:
            user = await app.user("seller@crm.test")
            resp = await user.post("/api/v1/inboxes", inbox_body(peer, provider, account))
            assert resp.status_code == 201, resp.text
            inbox = resp.json()
            sent = await _send(user, inbox, CLIENT, "Before the restart")
            assert sent["status"] == "sent", sent["error"]
            await wait_for(lambda: _monitor_up(app, inbox["id"]))
            peer.stop()

            async def failing() -> Any:
                body = (await user.get(f"/api/v1/inboxes/{inbox['id']}")).json()
                return body if body["last_error"] else None

            await wait_for(failing, timeout=30)
            peer.start()

            async def recovered() -> Any:
                body = (await user.get(f"/api/v1/inboxes/{inbox['id']}")).json()
                return body if body["last_error"] is None and body["last_sync_at"] else None

            body = await wait_for(recovered, timeout=40)
            assert body["status"] == "connected"
            _, raw = make_reply(
                sender=CLIENT, to=account.email, subject="Re: Before the restart", text="After it",
                in_reply_to=sent["message_id"],
            )  # fmt: skip
            peer.deliver(account.email, raw)
            [reply] = await inbound(user, sent["contact_ids"][0])
            assert reply["thread_id"] == sent["thread_id"] and reply["text"].strip() == "After it"
    finally:
        provider.stop()
        if not peer.running:
            peer.start()
