"""Command encoding and the small pure helpers: quoting, literals, sets, dates, XOAUTH2."""

from __future__ import annotations

import base64
import locale
from datetime import UTC, datetime, timedelta, timezone

import pytest

from inboxlink.imap.commands import (
    Literal,
    String,
    encode_command,
    format_internal_date,
    validate_fetch_fields,
    validate_sequence_set,
    xoauth2_response,
)


def test_quoted_strings_escape_quotes_and_backslashes() -> None:
    assert encode_command("A1", "LOGIN", String("bob@example.test"), String('p"a\\ss w')) == [
        b'A1 LOGIN "bob@example.test" "p\\"a\\\\ss w"\r\n'
    ]
    assert encode_command("A2", "LOGIN", String(""), String("x")) == [b'A2 LOGIN "" "x"\r\n']


def test_non_ascii_becomes_a_synchronising_literal() -> None:
    secret = "pässwörd"
    size = len(secret.encode())
    assert encode_command("A1", "LOGIN", String("u"), String(secret)) == [
        b'A1 LOGIN "u" {%d}\r\n' % size,
        secret.encode() + b"\r\n",
    ]


def test_literal_plus_sends_everything_at_once() -> None:
    msg = b"Subject: x\r\n\r\nbody\r\n"
    chunks = encode_command("A3", "APPEND", String("Sent"), "(\\Seen)", Literal(msg), nonsync_limit=1 << 62)
    assert chunks == [b'A3 APPEND "Sent" (\\Seen) {%d+}\r\n%s\r\n' % (len(msg), msg)]


def test_literal_minus_limit_applies_only_to_small_literals() -> None:
    chunks = encode_command("A4", "APPEND", "INBOX", Literal(b"x" * 5000), nonsync_limit=4096)
    assert chunks == [b"A4 APPEND INBOX {5000}\r\n", b"x" * 5000 + b"\r\n"]


@pytest.mark.parametrize("raw", ["1:*\r\nA2 LOGOUT", "a\nb", "x\x00"])
def test_raw_arguments_cannot_smuggle_a_second_command(raw: str) -> None:
    with pytest.raises(ValueError):
        encode_command("A1", "UID", "SEARCH", raw)


def test_control_characters_in_strings_go_as_literals() -> None:
    assert encode_command("A1", "SELECT", String("a\r\nb")) == [b"A1 SELECT {4}\r\n", b"a\r\nb\r\n"]


@pytest.mark.parametrize("good", ["1", "1:*", "*", "1,3,5:9", "4:2,*:7"])
def test_sequence_sets(good: str) -> None:
    assert validate_sequence_set(good) == good


@pytest.mark.parametrize("bad", ["", "1:", ",1", "1 2", "a", "1:*)", "1,2 FLAGS"])
def test_bad_sequence_sets(bad: str) -> None:
    with pytest.raises(ValueError):
        validate_sequence_set(bad)


def test_fetch_fields() -> None:
    assert (
        validate_fetch_fields(("Message-ID", "In-Reply-To", "x-custom")) == "MESSAGE-ID IN-REPLY-TO X-CUSTOM"
    )
    for bad in [(), ("A B",), ("A)",), ("Subject:",), ("a]",)]:
        with pytest.raises(ValueError):
            validate_fetch_fields(bad)


def test_internal_date_is_locale_independent() -> None:
    try:
        locale.setlocale(locale.LC_TIME, "de_DE.UTF-8")
    except locale.Error:
        pass  # locale not installed: the assertion still checks the format
    try:
        when = datetime(2024, 3, 5, 14, 3, 0, tzinfo=timezone(timedelta(hours=1)))
        assert format_internal_date(when) == '"05-Mar-2024 14:03:00 +0100"'
        west = datetime(2023, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
        assert format_internal_date(west) == '"31-Dec-2023 23:59:59 -0530"'
        assert format_internal_date(datetime(2024, 1, 1)) == '"01-Jan-2024 00:00:00 +0000"'
        assert format_internal_date(datetime(2024, 1, 1, tzinfo=UTC)).endswith('+0000"')
    finally:
        locale.setlocale(locale.LC_TIME, "C")


def test_xoauth2_matches_googles_documented_example() -> None:
    got = xoauth2_response("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    assert got == (
        "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52"
        "YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )
    assert base64.b64decode(got).endswith(b"\x01\x01")


def test_uid_store_adds_flags_silently() -> None:
    from inboxlink.imap.commands import store_flags_args

    assert encode_command("A5", *store_flags_args("42", ["\\Deleted"])) == [
        b"A5 UID STORE 42 +FLAGS.SILENT (\\Deleted)\r\n"
    ]
    assert encode_command("A6", *store_flags_args("1:3,7", ["\\Seen", "$Label"], mode="-")) == [
        b"A6 UID STORE 1:3,7 -FLAGS.SILENT (\\Seen $Label)\r\n"
    ]


@pytest.mark.parametrize(
    ("uid_set", "flags"), [("1 2", ["\\Deleted"]), ("1", ["\\Deleted) (x"]), ("1", ["a\r\nA2 LOGOUT"])]
)
def test_uid_store_refuses_what_could_break_the_command(uid_set: str, flags: list[str]) -> None:
    from inboxlink.imap.commands import store_flags_args

    with pytest.raises(ValueError):
        store_flags_args(uid_set, flags)


def test_expunge_one_uid_or_all_deleted() -> None:
    from inboxlink.imap.commands import expunge_args

    assert encode_command("A7", *expunge_args("42")) == [b"A7 UID EXPUNGE 42\r\n"]
    assert encode_command("A8", *expunge_args(None)) == [b"A8 EXPUNGE\r\n"]
    with pytest.raises(ValueError):
        expunge_args("1:*\r\nA9 DELETE INBOX")
