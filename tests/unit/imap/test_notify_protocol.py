"""NOTIFY (RFC 5465) in the pure IMAP core: the NOTIFY SET bytes and the STATUS responses it brings."""

from __future__ import annotations

import pytest

from inboxlink.imap.commands import encode_command, notify_set_args
from inboxlink.imap.errors import ProtocolError
from inboxlink.imap.protocol import MailboxStatus, ResponseReader, Untagged
from inboxlink.imap.utf7 import encode_mailbox


def status(data: bytes) -> object:
    reader = ResponseReader()
    reader.feed(data)
    return reader.next_response()


@pytest.mark.parametrize(
    ("mailbox", "wire"),
    [
        (
            "Sent",
            b'A1 NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (MAILBOXES "Sent" (MessageNew MessageExpunge))\r\n',
        ),
        (
            "Sent Items",
            b'A1 NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (MAILBOXES "Sent Items" (MessageNew MessageExpunge))\r\n',
        ),
        (
            encode_mailbox("Gesendete Objekte/Ä"),
            b'A1 NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (MAILBOXES "Gesendete Objekte/&AMQ-" (MessageNew MessageExpunge))\r\n',
        ),
        (
            'Odd "name"',  # quoted and escaped: a folder name cannot break out of the command
            b'A1 NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (MAILBOXES "Odd \\"name\\"" (MessageNew MessageExpunge))\r\n',
        ),
        (None, b"A1 NOTIFY SET (SELECTED (MessageNew MessageExpunge))\r\n"),
    ],
)
def test_notify_set_bytes(mailbox: str | None, wire: bytes) -> None:
    assert encode_command("A1", *notify_set_args(mailbox)) == [wire]


def test_status_response_of_a_watched_mailbox() -> None:
    resp = status(b"* STATUS Sent (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1796218546 UNSEEN 1)\r\n")
    assert isinstance(resp, MailboxStatus)
    assert resp.mailbox == "Sent"
    assert (resp.get("MESSAGES"), resp.get("UIDNEXT"), resp.get("UIDVALIDITY")) == (1, 2, 1796218546)
    assert resp.get("HIGHESTMODSEQ") is None


def test_status_mailbox_quoted_literal_and_modified_utf7() -> None:
    assert status(b'* STATUS "Sent Items" (UIDNEXT 7)\r\n') == MailboxStatus(
        "Sent Items", (("UIDNEXT", 7),), b'* STATUS "Sent Items" (UIDNEXT 7)'
    )
    resp = status(b"* STATUS {23}\r\nGesendete Objekte/&AMQ- (messages 3)\r\n")
    assert isinstance(resp, MailboxStatus)
    assert resp.mailbox == "Gesendete Objekte/Ä" and resp.get("MESSAGES") == 3  # keys upper-cased


def test_status_split_at_every_byte() -> None:
    data = b"* STATUS Sent (MESSAGES 12 UIDNEXT 13)\r\n"
    reader = ResponseReader()
    got = []
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        if (resp := reader.next_response()) is not None:
            got.append(resp)
    assert [r.get("UIDNEXT") for r in got if isinstance(r, MailboxStatus)] == [13]


@pytest.mark.parametrize("line", [b"* STATUS\r\n", b"* STATUS Sent\r\n", b"* STATUS Sent MESSAGES 1\r\n"])
def test_malformed_status_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        status(line)


def test_unknown_status_items_are_kept_or_skipped_not_fatal() -> None:
    resp = status(b"* STATUS Sent (MESSAGES 1 X-GUID abc SIZE 900)\r\n")
    assert isinstance(resp, MailboxStatus) and resp.get("SIZE") == 900 and resp.get("X-GUID") is None


def test_other_untagged_responses_stay_untagged() -> None:
    assert isinstance(status(b"* NAMESPACE NIL NIL NIL\r\n"), Untagged)
