"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3)."""

from __future__ import annotations

import pytest

from inboxlink.imap.utf7 import decode_mailbox, encode_mailbox

CASES = [
    ("INBOX", "INBOX"),
    ("A&B", "A&-B"),
    ("Envoyés", "Envoy&AOk-s"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # the RFC's own example
    ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
    ("😀 mail", "&2D3eAA- mail"),
    ("", ""),
]


@pytest.mark.parametrize(("name", "wire"), CASES)
def test_round_trip(name: str, wire: str) -> None:
    assert encode_mailbox(name) == wire
    assert decode_mailbox(wire) == name
    assert decode_mailbox(wire.encode("ascii")) == name


@pytest.mark.parametrize("bad", ["&", "abc&ZeVn", "&!!-", "&AOk"])
def test_invalid_sequences(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_mailbox(bad)
