import random
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest

from inboxlink.domain.message_ids import parse_id_list
from inboxlink.domain.models import HeaderSummary
from inboxlink.mime.headers import scan_headers
from inboxlink.mime.parse import parse_message

FIXTURES = Path(__file__).parent.parent / "fixtures" / "replies"
TRACKED = "1715000000000.Tr4ck3dT0k3n_-xyz@crm.example.com"
CLIENTS = ["gmail.eml", "outlook.eml", "apple_mail.eml", "thunderbird.eml", "phone.eml", "html_only.eml"]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes().replace(b"{TRACKED_ID}", TRACKED.encode())


def imap_header_fields(raw: bytes) -> bytes:
    """What `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID IN-REPLY-TO REFERENCES ...)]` returns for `raw`."""
    wanted = (b"message-id", b"in-reply-to", b"references", b"from", b"to", b"cc", b"subject", b"date")
    head = raw.split(b"\r\n\r\n", 1)[0]
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if fields and fields[-1]:
                fields[-1] += b"\r\n" + line
            continue
        keep = line.split(b":", 1)[0].strip().lower() in wanted
        fields.append(line if keep else b"")
    return b"".join(f + b"\r\n" for f in fields if f) + b"\r\n"


def test_gmail() -> None:
    assert scan_headers(fixture("gmail.eml")) == HeaderSummary(
        message_id="CAHx8Wq3dGZ+kP9b2qN_mRxv0Yc7=vT6sE4fH1uJ2w-A@mail.gmail.com",
        in_reply_to=(TRACKED,),
        references=("1714990931000.q8Xh2mNvR5tLwY3cK9pZbA_0@us.example", TRACKED),
    )


def test_outlook_message_id_on_continuation_line() -> None:
    summary = scan_headers(fixture("outlook.eml"))
    assert summary.message_id == (
        "AM0PR02MB5555E1F2A3B4C5D6E7F8A9B0C1D2E3F4@AM0PR02MB5555.eurprd02.prod.outlook.com"
    )
    assert summary.in_reply_to == summary.references == (TRACKED,)


def test_apple_mail_references_folded_over_lines() -> None:
    summary = scan_headers(fixture("apple_mail.eml"))
    assert summary.message_id == "8A2F4C6E-1D3B-4A5C-9E7F-0B2D4F6A8C1E@example.de"
    assert summary.references == (
        "1714990931000.q8Xh2mNvR5tLwY3cK9pZbA_0@us.example",
        TRACKED,
        "1C7E9A2B-3D5F-4B6A-8C0E-2F4A6B8D0E1F@example.de",
    )


def test_thunderbird_references_only() -> None:
    summary = scan_headers(fixture("thunderbird.eml"))
    assert summary.in_reply_to == ()
    assert len(summary.references) == 5
    assert summary.references[2] == TRACKED


def test_phone_in_reply_to_with_folded_trailing_comment() -> None:
    summary = scan_headers(fixture("phone.eml"))
    assert summary.in_reply_to == (TRACKED,)
    assert summary.references == ()


@pytest.mark.parametrize("name", CLIENTS)
def test_header_fields_literal_gives_the_same_summary(name: str) -> None:
    raw = fixture(name)
    assert scan_headers(imap_header_fields(raw)) == scan_headers(raw)


@pytest.mark.parametrize("name", CLIENTS)
def test_agrees_with_stdlib_policy_default(name: str) -> None:
    raw = fixture(name)
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    summary = scan_headers(raw)
    assert summary.in_reply_to == parse_id_list(str(headers.get("In-Reply-To", "")))
    assert summary.references == parse_id_list(str(headers.get("References", "")))
    assert summary.message_id == parse_id_list(str(headers["Message-ID"]))[0]


@pytest.mark.parametrize("name", [*CLIENTS, "hostile/unclosed_boundary.eml", "hostile/garbage.bin"])
def test_hot_path_and_full_parse_agree_on_ids(name: str) -> None:
    raw = fixture(name)
    summary, parsed = scan_headers(raw), parse_message(raw)
    assert (parsed.message_id, parsed.in_reply_to, parsed.references) == (
        summary.message_id,
        summary.in_reply_to,
        summary.references,
    )


def test_field_names_are_case_insensitive_and_spacing_tolerant() -> None:
    raw = b"MESSAGE-ID: <a@x>\r\nin-reply-to:<b@x>\r\nReFeReNcEs  \t: <c@x>\r\n <d@x>\r\n\r\n"
    assert scan_headers(raw) == HeaderSummary("a@x", ("b@x",), ("c@x", "d@x"))


def test_bare_lf_and_tab_folding() -> None:
    raw = b"Message-ID: <a@x>\nReferences: <c@x>\n\t<d@x>\nSubject: s\n\n"
    assert scan_headers(raw) == HeaderSummary("a@x", (), ("c@x", "d@x"))


def test_lookalike_fields_do_not_count() -> None:
    raw = (
        b"X-Original-Message-ID: <orig@x>\r\nResent-Message-ID: <resent@x>\r\n"
        b"X-References: <xref@x>\r\nSubject: Message-ID: <subj@x>\r\n"
        b"Thread-Index: AQHan+1x\r\n References: <folded-into-thread-index@x>\r\n\r\n"
    )
    assert scan_headers(raw) == HeaderSummary(message_id=None)


def test_first_occurrence_wins() -> None:
    raw = b"Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\nIn-Reply-To: <p1@x>\r\nIn-Reply-To: <p2@x>\r\n"
    assert scan_headers(raw) == HeaderSummary("first@x", ("p1@x",))


def test_body_is_never_read() -> None:
    raw = b"Subject: hi\r\n\r\nReferences: <in-body@x>\r\nIn-Reply-To: <also-body@x>\r\n"
    assert scan_headers(raw) == HeaderSummary(message_id=None)


def test_missing_and_empty_fields() -> None:
    assert scan_headers(b"") == HeaderSummary(message_id=None)
    assert scan_headers(b"\r\n") == HeaderSummary(message_id=None)
    assert scan_headers(b"Message-ID:\r\nReferences:  \r\nIn-Reply-To:\r\n\r\n") == HeaderSummary(None)


def test_utf8_and_undecodable_bytes() -> None:
    raw = "Message-ID: <ünï@例え.jp>\r\nReferences: <ok@x> <bad\xff@x>\r\n\r\n".encode(
        "utf-8", "surrogateescape"
    )
    raw = raw.replace(b"\xc3\xbf@x", b"\xff@x")  # make the second id undecodable
    summary = scan_headers(raw)
    assert summary.message_id == "ünï@例え.jp"
    assert summary.references == ("ok@x",)


def test_garbage_never_raises() -> None:
    rng = random.Random(5)
    seeds = [fixture(name) for name in CLIENTS] + [(FIXTURES / "hostile" / "garbage.bin").read_bytes()]
    for _ in range(3000):
        base = bytearray(rng.choice(seeds)[:1500])
        for _ in range(rng.randint(1, 20)):
            base[rng.randrange(len(base))] = rng.choice(b'<>()\r\n \t:,@\x00\xff"\\')
        summary = scan_headers(bytes(base[: rng.randrange(len(base) + 1)]))
        assert isinstance(summary, HeaderSummary)
    assert isinstance(scan_headers(bytes(range(256)) * 50), HeaderSummary)
    hostile = b"References: " + b"<" * 100_000 + b"(" * 50_000 + b"\r\n\r\n"
    assert scan_headers(hostile) == HeaderSummary(message_id=None)
