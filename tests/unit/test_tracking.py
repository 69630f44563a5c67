"""Tracked-id scopes, the own-id MAC and its header, byte level (domain.tracking, mime.headers.own_id,
mime.build.own_id_field, SecretBox.derived_keys)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from inboxlink.domain.models import Address, OutgoingMessage
from inboxlink.domain.tracking import (
    MAC_PURPOSE,
    TEAM,
    logged_scope,
    own_id_mac,
    scope_rank,
    valid_own_id_mac,
    visible_scopes,
)
from inboxlink.mime.build import build_message, own_id_field
from inboxlink.mime.headers import OwnIdHeader, own_id, scan_headers
from inboxlink.storage.secretbox import SecretBox

OWN = "1715000000000.q8Xh2mNvR5tLwY3cK9pZbA_0@crm.example.com"
KEY = b"k" * 32
MAC = own_id_mac(KEY, OWN)


@pytest.mark.parametrize(
    ("source", "user_id", "inbox_id", "scope"),
    [
        ("crm", 1, 10, TEAM),  # inboxlink chose the id
        ("sent_folder", 1, 10, "user:1"),  # the user's client chose it
        ("bcc", 1, None, "user:1"),  # whoever mailed the logging address chose it
        ("bcc", 1, 10, "user:1"),
        ("imap", 1, 10, "inbox:10"),  # the sender chose it
        ("something_new", 1, 10, "inbox:10"),  # unknown: the narrowest, never the team
        ("something_new", 1, None, "user:1"),
        ("imap", None, None, None),
    ],
)
def test_scope_of_a_logged_email(
    source: str, user_id: int | None, inbox_id: int | None, scope: str | None
) -> None:
    assert logged_scope(source, user_id, inbox_id) == scope


def test_a_monitor_sees_the_team_its_user_and_its_own_inbox() -> None:
    assert visible_scopes(10, 1) == ("team", "user:1", "inbox:10")
    assert "inbox:20" not in visible_scopes(10, 1) and "user:2" not in visible_scopes(10, 1)
    assert scope_rank("team") < scope_rank("user:1") < scope_rank("inbox:10")


def test_mac_verifies_for_its_id_under_any_configured_key() -> None:
    old, new = b"o" * 32, b"n" * 32
    assert len(MAC) == 43 and MAC.isascii() and "=" not in MAC
    assert valid_own_id_mac([new, old], OWN, own_id_mac(old, OWN))  # signed before a rotation
    assert valid_own_id_mac([new], OWN, own_id_mac(new, OWN))
    assert not valid_own_id_mac([new], OWN, own_id_mac(old, OWN))  # a key no longer configured
    assert not valid_own_id_mac([KEY], OWN + "x", MAC)  # another id
    assert not valid_own_id_mac([KEY], OWN, MAC[:-1] + ("A" if MAC[-1] != "A" else "B"))
    assert not valid_own_id_mac([KEY], OWN, None) and not valid_own_id_mac([KEY], OWN, "")


def test_derived_keys_follow_rotation_and_are_not_the_cookie_key() -> None:
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    rotated = SecretBox([first, second]).derived_keys(MAC_PURPOSE)
    assert rotated[1] == SecretBox([second]).derived_keys(MAC_PURPOSE)[0]
    assert rotated[0] == SecretBox([first]).derived_keys(MAC_PURPOSE)[0] != rotated[1]
    assert rotated[0] != SecretBox([first]).derived_keys(b"inboxlink web session v1")[0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"X-Inboxlink-Id: <{OWN}>; mac={MAC}\r\n", OwnIdHeader(OWN, MAC)),
        (f"x-inboxlink-id:<{OWN}>;mac={MAC}\r\n", OwnIdHeader(OWN, MAC)),
        (f"X-Inboxlink-Id: <{OWN}>;\r\n mac={MAC}\r\n", OwnIdHeader(OWN, MAC)),  # folded
        (f"X-Inboxlink-Id: <{OWN}>; mac={MAC}\n", OwnIdHeader(OWN, MAC)),  # bare LF
        (f"X-Inboxlink-Id: <{OWN}>\r\n", OwnIdHeader(OWN, None)),  # sent before the MAC
        (f"X-Inboxlink-Id: <{OWN}>; mac={MAC[:-1]}\r\n", OwnIdHeader(OWN, None)),  # too short
        (f"X-Inboxlink-Id: <{OWN}>; mac={MAC}A\r\n", OwnIdHeader(OWN, None)),  # too long
        (f"X-Inboxlink-Id: <{OWN}>; mac={MAC}; more\r\n", OwnIdHeader(OWN, None)),  # trailing junk
        (f"X-Inboxlink-Id: <{OWN}>; mac={MAC[:-1]}!\r\n", OwnIdHeader(OWN, None)),
        (f"X-Inboxlink-Id: {OWN}\r\n", None),  # no brackets
        ("X-Inboxlink-Id: <>\r\n", None),
        (f"X-Original-X-Inboxlink-Id: <{OWN}>; mac={MAC}\r\n", None),  # not at a line start
        (f"Subject: x\r\n X-Inboxlink-Id: <{OWN}>; mac={MAC}\r\n", None),  # a continuation line
    ],
)
def test_own_id_header_parsing(header: str, expected: OwnIdHeader | None) -> None:
    raw = b"Message-ID: <other@relay.example>\r\n" + header.encode() + b"Subject: hi\r\n\r\nbody\r\n"
    assert own_id(raw) == expected


def test_own_id_header_bytes_edge_cases() -> None:
    line = f"X-Inboxlink-Id: <{OWN}>; mac={MAC}".encode()
    assert own_id(b"Subject: x\r\n\r\n" + line + b"\r\n") is None  # in the body: not a header
    assert own_id(line) == OwnIdHeader(OWN, MAC)  # a HEADER.FIELDS literal without the blank line
    first = own_id(line + b"\r\n" + f"X-Inboxlink-Id: <second@x>; mac={MAC}\r\n".encode())
    assert first == OwnIdHeader(OWN, MAC)  # the first field wins
    assert own_id(b"X-Inboxlink-Id: <caf\xc3\xa9@x.example>\r\n") == OwnIdHeader("caf\u00e9@x.example", None)
    assert own_id(b"X-Inboxlink-Id: <caf\xe9@x.example>\r\n") is None  # not UTF-8
    assert own_id(b"") is None and own_id(b"\r\n\r\n") is None


def test_built_message_carries_the_mac_readable_by_old_and_new_parsers() -> None:
    msg = OutgoingMessage(
        message_id=OWN,
        sender=Address("alice@us.example"),
        to=(Address("bob@acme.example"),),
        subject="s",
        text="t",
        date=datetime(2024, 5, 6, tzinfo=UTC),
    )
    raw = build_message(msg, own_id_mac=MAC)
    assert f"\r\nX-Inboxlink-Id: <{OWN}>; mac={MAC}\r\n".encode() in raw
    assert own_id(raw) == OwnIdHeader(OWN, MAC) and scan_headers(raw).message_id == OWN
    assert f"X-Inboxlink-Id: <{OWN}>\r\n".encode() in build_message(msg)  # unsigned: the old form
    with pytest.raises(ValueError):
        build_message(msg, own_id_mac="abc\r\nBcc: evil@x")
    long_id = "a" * 900 + "@x.example"
    field = own_id_field(long_id, MAC)
    assert all(len(line) <= 998 for line in field.split("\r\n"))
    assert own_id(build_message(replace(msg, message_id=long_id), own_id_mac=MAC)) == OwnIdHeader(
        long_id, MAC
    )
