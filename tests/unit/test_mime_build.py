import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from inboxlink.domain.message_ids import parse_id_list
from inboxlink.domain.models import Address, Attachment, OutgoingMessage
from inboxlink.mime.build import build_message
from inboxlink.mime.headers import scan_headers

OWN_ID = "1715000000000.q8Xh2mNvR5tLwY3cK9pZbA_0@crm.example.com"

BASE = OutgoingMessage(
    message_id=OWN_ID,
    sender=Address("alice@us.example", "Alice Example"),
    to=(Address("bob@acme.example", "Bob Novak"),),
    subject="Proposal for Q3",
    text="Hi Bob,\n\nhere is the proposal.\n",
    date=datetime(2024, 5, 6, 16, 2, 11, tzinfo=timezone(timedelta(hours=2))),
)


def std(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def head(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


def test_minimal_message_headers() -> None:
    raw = build_message(BASE)
    text = head(raw)
    assert text.startswith("From: Alice Example <alice@us.example>\r\n")
    assert "\r\nTo: Bob Novak <bob@acme.example>\r\n" in text
    assert "\r\nSubject: Proposal for Q3\r\n" in text
    assert "\r\nDate: Mon, 06 May 2024 16:02:11 +0200\r\n" in text
    assert f"\r\nMessage-ID: <{OWN_ID}>\r\n" in text
    assert f"\r\nReferences: <{OWN_ID}>\r\n" in text
    assert "In-Reply-To" not in text
    assert "\r\nX-Mailer: inboxlink\r\n" in text
    assert "\r\nMIME-Version: 1.0" in text
    assert "Cc:" not in text
    parsed = std(raw)
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().replace("\r\n", "\n") == BASE.text


def test_crlf_only_and_seven_bit() -> None:
    msg = replace(
        BASE,
        subject="Übersicht — Q3 " * 8,
        text="Grüße\nline with trailing space \n" + "x" * 2000 + "\n",
        html="<p>Grüße</p>",
        attachments=(Attachment("ü.bin", "application/octet-stream", bytes(range(256)) * 10),),
    )
    raw = build_message(msg)
    assert not re.search(rb"(?<!\r)\n", raw), "bare LF"
    assert not re.search(rb"\r(?!\n)", raw), "bare CR"
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_bcc_is_never_written() -> None:
    msg = replace(BASE, bcc=(Address("secret@hidden.example", "Secret Person"),))
    raw = build_message(msg)
    assert b"secret" not in raw.lower()
    assert b"bcc" not in raw.lower()


def test_bcc_only_message_gets_undisclosed_recipients() -> None:
    raw = build_message(replace(BASE, to=(), bcc=(Address("secret@hidden.example"),)))
    assert "\r\nTo: undisclosed-recipients:;\r\n" in head(raw)
    assert b"secret" not in raw


def test_no_recipients_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="recipients"):
        build_message(replace(BASE, to=()))


def test_reply_threading_headers_include_our_own_id() -> None:
    msg = replace(
        BASE, in_reply_to="<parent@acme.example>", references=("<root@us.example>", "mid@acme.example")
    )
    raw = build_message(msg)
    summary = scan_headers(raw)
    assert summary.message_id == OWN_ID
    assert summary.in_reply_to == ("parent@acme.example",)
    assert summary.references == ("root@us.example", "mid@acme.example", "parent@acme.example", OWN_ID)
    # The stdlib reader sees the same ids: no encoded-words in References.
    parsed = std(raw)
    assert parse_id_list(str(parsed["References"])) == summary.references


def test_references_deduplicated_and_long_chains_fold_without_encoding() -> None:
    chain = tuple(f"{i}.{'x' * 60}@mail.example.org" for i in range(12))
    msg = replace(BASE, in_reply_to=chain[-1], references=(*chain, chain[0]))
    raw = build_message(msg)
    assert b"=?" not in raw.split(b"\r\n\r\n", 1)[0]
    refs = scan_headers(raw).references
    assert refs == (*chain[1:11], chain[0], chain[11], OWN_ID)  # each id once, at its newest position
    assert re.search(r"References: <[^>]+>\r\n <", head(raw))


def test_a_huge_references_chain_keeps_the_root_and_the_newest_ids() -> None:
    # A hostile thread of 10,000 ids made a 550 KB header; Postfix refuses headers over 100 KB.
    chain = tuple(f"{i}.{'y' * 40}@hostile.example" for i in range(10_000))
    raw = build_message(replace(BASE, in_reply_to="parent@hostile.example", references=chain))
    refs = scan_headers(raw).references
    assert refs == (chain[0], *chain[-18:], "parent@hostile.example", OWN_ID)  # the first + 20 newest
    assert len(raw.split(b"\r\n\r\n", 1)[0]) < 3_000


def test_a_parent_id_with_non_ascii_characters_is_left_out_not_fatal() -> None:
    # RFC 6532 allows UTF-8 in a Message-ID; our 7-bit header block cannot carry it, and RFC 2047
    # forbids encoded-words in a msg-id: the reply goes out with the ids it can name.
    msg = replace(
        BASE, in_reply_to="réponse-1@client.example", references=("root@us.example", "ünï@x.example")
    )
    raw = build_message(msg)
    summary = scan_headers(raw)
    assert summary.in_reply_to == ()
    assert summary.references == ("root@us.example", OWN_ID)
    assert "In-Reply-To" not in head(raw)  # ASCII-only: head() decodes as ascii


@pytest.mark.parametrize(
    ("declared", "sent_as"),
    [
        ("application/pdf", "application/pdf"),
        ("Text/Plain", "text/plain"),
        ("multipart/mixed", "application/octet-stream"),  # would need a boundary
        ("message/rfc822", "application/octet-stream"),  # base64 is not allowed there
        ("te;xt/plain", "application/octet-stream"),
        ('text/"plain"', "application/octet-stream"),
        ("text/plain; charset=utf-8", "application/octet-stream"),
    ],
)
def test_attachment_types_are_plain_token_pairs(declared: str, sent_as: str) -> None:
    raw = build_message(replace(BASE, attachments=(Attachment("f.bin", declared, b"\x00data"),)))
    part = next(iter(std(raw).iter_attachments()))
    assert part.get_content_type() == sent_as
    assert part.get_payload(decode=True) == b"\x00data"
    assert part["Content-Type"].split(";")[0] == sent_as


def test_display_names_are_encoded_words_and_round_trip() -> None:
    msg = replace(
        BASE,
        sender=Address("alice@us.example", "Zdeněk Łukasz Wójcik-Müller"),
        to=(Address("bob@acme.example", 'Bob, Jr. "the" Builder'), Address("carol@x.example")),
        cc=(Address("d@x.example", "Ωμέγα 日本語 " * 6),),
    )
    raw = build_message(msg)
    text = head(raw)
    assert "=?utf-8?" in text
    assert "Zdeněk" not in text
    parsed = std(raw)
    assert [(a.display_name, a.addr_spec) for a in parsed["From"].addresses] == [
        ("Zdeněk Łukasz Wójcik-Müller", "alice@us.example")
    ]
    assert [(a.display_name, a.addr_spec) for a in parsed["To"].addresses] == [
        ('Bob, Jr. "the" Builder', "bob@acme.example"),
        ("", "carol@x.example"),
    ]
    # Long names span several encoded-words, split mid-word; RFC 2047 decoders join them without a
    # space (policy.default does not, which is why parse_message re-decodes names).
    encoded = head(raw).split("\r\nCc: ", 1)[1].split(" <d@x.example>")[0]
    assert encoded.count("=?utf-8?") > 1
    assert str(make_header(decode_header(encoded))) == ("Ωμέγα 日本語 " * 6).strip()


def test_name_that_looks_like_an_encoded_word_stays_literal() -> None:
    msg = replace(BASE, to=(Address("bob@acme.example", "=?utf-8?q?Evil?="),))
    assert std(build_message(msg))["To"].addresses[0].display_name == "=?utf-8?q?Evil?="


def test_idn_domain_is_punycoded() -> None:
    raw = build_message(replace(BASE, to=(Address("info@bücher.example", "Bücher"),)))
    assert "<info@xn--bcher-kva.example>" in head(raw)


def test_naive_date_is_utc() -> None:
    raw = build_message(replace(BASE, date=datetime(2024, 1, 2, 3, 4, 5)))
    assert "\r\nDate: Tue, 02 Jan 2024 03:04:05 +0000\r\n" in head(raw)
    assert std(raw)["Date"].datetime == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_html_alternative_and_attachments_structure() -> None:
    msg = replace(
        BASE,
        html="<p>Hi <b>Bob</b></p>",
        attachments=(
            Attachment("übersicht Q3.pdf", "application/pdf", b"%PDF-1.4\x00\xff"),
            Attachment("notes.txt", "text/plain", b"a\r\nb\n"),
            Attachment("weird", "not a type", b"x"),
        ),
    )
    raw = build_message(msg)
    parsed = std(raw)
    assert parsed.get_content_type() == "multipart/mixed"
    parts = list(parsed.iter_parts())
    assert parts[0].get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parts[0].iter_parts()] == ["text/plain", "text/html"]
    assert [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in parts[1:]] == [
        ("übersicht Q3.pdf", "application/pdf", b"%PDF-1.4\x00\xff"),
        ("notes.txt", "text/plain", b"a\r\nb\n"),
        ("weird", "application/octet-stream", b"x"),
    ]
    assert b"filename*=utf-8''%C3%BCbersicht%20Q3.pdf" in raw  # RFC 2231
    assert raw.count(b"MIME-Version") == 1


@pytest.mark.parametrize(
    "change",
    [
        {"subject": "Hello\r\nBcc: victim@example.com"},
        {"subject": "Hello\nX-Evil: 1"},
        {"subject": "nul\x00byte"},
        {"sender": Address("alice@us.example", "Alice\r\nBcc: x@y")},
        {"sender": Address("alice@us.example\r\nBcc: x@y", "Alice")},
        {"to": (Address("bob@acme.example\n", "Bob"),)},
        {"cc": (Address("c@x.example", "C\rD"),)},
        {"bcc": (Address("b@x.example\r\nX: 1"),)},
        {"message_id": "abc@x\r\nBcc: y@z"},
        {"in_reply_to": "<p@x>\r\nBcc: y@z"},
        {"references": ("r@x\nBcc: y@z",)},
        {"attachments": (Attachment("a\r\nContent-Type: text/html", "text/plain", b""),)},
        {"attachments": (Attachment("a.txt", "text/plain\r\nX-Evil: 1", b""),)},
    ],
)
def test_line_breaks_in_header_values_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build_message(replace(BASE, **change))


@pytest.mark.parametrize(
    "address",
    [
        "bob",
        "bob@",
        "@acme.example",
        "bob@acme.example>, evil@x.example",
        "bob smith@x.example",
        "bö@x.example",
    ],
)
def test_unusable_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError):
        build_message(replace(BASE, to=(Address(address, "Bob"),)))


@pytest.mark.parametrize("message_id", ["", "<>", "no id here"])
def test_unusable_message_id_is_refused(message_id: str) -> None:
    with pytest.raises(ValueError):
        build_message(replace(BASE, message_id=message_id))


def test_bracketed_ids_are_accepted_and_normalised() -> None:
    raw = build_message(replace(BASE, message_id=f"<{OWN_ID}>", in_reply_to="<p@x> (Bob's message)"))
    assert scan_headers(raw).message_id == OWN_ID
    assert scan_headers(raw).in_reply_to == ("p@x",)
