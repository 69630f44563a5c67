import base64
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from inboxlink.domain.models import Address, Attachment, OutgoingMessage, ParsedMessage
from inboxlink.mime.build import build_message
from inboxlink.mime.parse import parse_message
from inboxlink.mime.sanitize import REMOTE_SRC_ATTRIBUTE

FIXTURES = Path(__file__).parent.parent / "fixtures" / "replies"
TRACKED = "1715000000000.Tr4ck3dT0k3n_-xyz@crm.example.com"
ALICE = Address("alice@us.example", "Alice Example")
CLIENT_ADDRESS = "client@prospect.example"


def fixture(name: str) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes().replace(b"{TRACKED_ID}", TRACKED.encode()))


def mail(text: str) -> bytes:
    """A hand-written message: `\\n` in the literal becomes CRLF on the wire."""
    return text.lstrip("\n").replace("\n", "\r\n").encode("utf-8")


# ------------------------------------------------------------------------------------ real clients


def test_gmail_multipart_alternative() -> None:
    m = fixture("gmail.eml")
    assert m.sender == Address("bob.novak@gmail.com", "Bob Novak")
    assert m.to == (ALICE,)
    assert m.cc == ()
    assert m.subject == "Re: Proposal for Q3"
    assert m.date == datetime(2024, 5, 7, 11, 14, 21, tzinfo=timezone(timedelta(hours=2)))
    assert m.message_id == "CAHx8Wq3dGZ+kP9b2qN_mRxv0Yc7=vT6sE4fH1uJ2w-A@mail.gmail.com"
    assert m.in_reply_to == (TRACKED,)
    assert m.references[-1] == TRACKED
    assert m.text.startswith("Hi Alice,\n\nThanks — the numbers look good. Let's talk Thursday at 10:00.\n")
    assert "> here is the proposal for Q3 we discussed." in m.text
    assert m.html is not None
    assert "<blockquote" in m.html and "Thanks — the numbers look good" in m.html
    assert "class=" not in m.html
    assert m.attachments == ()
    assert m.problems == ()


def test_outlook_windows_1250() -> None:
    m = fixture("outlook.eml")
    assert m.sender == Address("zdenek.hosek@firma.cz", "Zdeněk Hošek")
    assert m.cc == (Address("lukasz.wojcik@firma.pl", "Łukasz Wójcik"),)
    assert m.subject == "RE: Nabídka na Q3"
    assert m.date == datetime(2024, 5, 7, 9, 31, 12, tzinfo=UTC)
    assert m.in_reply_to == m.references == (TRACKED,)
    assert "děkuji za nabídku. Přílohu s podpisem pošlu zítra." in m.text
    assert "Z poważaniem\nZdeněk Hošek" in m.text
    assert "\r" not in m.text
    assert m.html is not None
    assert "Kolega Łukasz Wójcik je v kopii." in m.html
    assert "MsoNormal" not in m.html and "Calibri" not in m.html  # <style> content gone
    assert m.problems == ()


def test_apple_mail_rfc2231_attachment() -> None:
    m = fixture("apple_mail.eml")
    assert m.sender == Address("juergen.weiss@example.de", "Jürgen Weiß")
    assert m.cc == (Address("sabine.mueller@example.de", "Sabine Müller"),)
    assert m.subject == "Re: Übersicht Q3"
    assert (
        m.text
        == "Hallo Alice,\n\nanbei die Übersicht für Q3 – wie mit Frau Müller besprochen.\n\nViele Grüße\nJürgen\n"
    )
    assert m.html is None
    assert m.attachments == (
        Attachment(
            "übersicht Q3.pdf", "application/pdf", (FIXTURES / "apple_mail_attachment.pdf").read_bytes()
        ),
    )
    assert TRACKED in m.references
    assert m.problems == ()


def test_thunderbird_flowed_8bit() -> None:
    m = fixture("thunderbird.eml")
    assert m.sender == Address("carla.rossi@example.org", "Carla Rossi")
    assert m.in_reply_to == ()
    assert m.references[2] == TRACKED
    # format=flowed soft breaks are joined; hard breaks, quotes and the signature separator stay.
    assert (
        "this morning and they are fine with clause 7; only the payment terms in 9.2 need another look."
        in m.text
    )
    assert (
        "> Dear Carla, please find the renewed contract attached. Let me know if anything needs changing."
        in m.text
    )
    assert "\n-- \nCarla Rossi · Procurement · Esempio S.p.A." in m.text


def test_phone_base64_body_and_commented_in_reply_to() -> None:
    m = fixture("phone.eml")
    assert m.sender == Address("marek.k@example.net", "Marek K.")
    assert m.to == (Address("alice@us.example"),)
    assert m.in_reply_to == (TRACKED,)
    assert m.references == ()
    assert m.text == "Sounds good, see you Thursday.\n\nSent from my phone\n"


def test_html_only_is_sanitised_and_gives_text() -> None:
    m = fixture("html_only.eml")
    assert m.html is not None
    for bad in ("<script", "document.cookie", "onerror", "onclick", "onload", "javascript:", "<iframe", "<form",
                "password", "tracker.example/bg.png", "Newsletter reply"):  # fmt: skip
        assert bad not in m.html, bad
    assert f'{REMOTE_SRC_ATTRIBUTE}="https://tracker.example/open.gif?id=42"' in m.html
    assert 'href="https://example.com/offer" target="_blank" rel="noopener noreferrer"' in m.html
    assert m.text.startswith(
        "Hello Alice,\n\nWe'd love to join & talk about the café résumé tool.\nBest,\nDana\n"
    )
    assert "steal" not in m.text and "document" not in m.text and "Newsletter reply" not in m.text
    assert m.date == datetime(2024, 5, 7, 15, 0, tzinfo=timezone(timedelta(hours=-4)))


# ------------------------------------------------------------------------------------ hostile input


def test_unclosed_boundary_keeps_what_is_there() -> None:
    m = fixture("hostile/unclosed_boundary.eml")
    assert m.text == "The reply text survives even though no boundary is ever closed.\n"
    assert m.html == "<p>The reply text survives</p>"  # the parser closes what the sender did not
    assert m.in_reply_to == (TRACKED,)
    assert any("CloseBoundaryNotFound" in p for p in m.problems)


def test_unknown_charsets() -> None:
    m = fixture("hostile/unknown_charset.eml")
    assert m.text == "Grüße aus Qo'noS\ncafé crème"  # UTF-8 guess, then Latin-1
    assert m.sender == Address("worf@example.com", "Worf")
    assert "Qapla" in m.subject
    assert "text/plain: unknown charset 'x-klingon'" in m.problems
    assert "text/plain: unknown charset 'zlib'" in m.problems  # a codec, but not a text encoding
    assert any(p.startswith("From:") and "x-klingon" in p for p in m.problems)


def test_garbage_bytes() -> None:
    m = fixture("hostile/garbage.bin")
    assert m.message_id is None and m.sender is None and m.attachments == ()
    assert m.problems
    assert "\x00" not in m.text


def test_path_traversal_names_are_neutralised() -> None:
    m = fixture("hostile/traversal_name.eml")
    assert m.text == "See attached."
    assert [(a.filename, a.content_type) for a in m.attachments] == [
        ("passwd", "text/plain"),
        ("bashrc", "application/x-sh"),
        ("evil.dll", "application/octet-stream"),
    ]
    assert m.attachments[0].data == b"root:x:0:0:root:/root:/bin/bash\n"


def test_empty_input() -> None:
    m = parse_message(b"")
    assert (m.message_id, m.sender, m.to, m.subject, m.date, m.text, m.html, m.attachments) == (
        None, None, (), "", None, "", None, ()
    )  # fmt: skip


def test_deep_nesting_is_cut_off() -> None:
    depth = 200
    lines = ["From: a@x.example", "MIME-Version: 1.0"]
    for i in range(depth):
        lines += [f'Content-Type: multipart/mixed; boundary="b{i}"', "", f"--b{i}"]
    lines += ["Content-Type: text/plain", "", "deep"]
    m = parse_message("\r\n".join(lines).encode())
    assert isinstance(m, ParsedMessage)
    assert m.problems


def test_mutated_messages_never_raise() -> None:
    rng = random.Random(7)
    seeds = [p.read_bytes() for p in FIXTURES.rglob("*") if p.suffix in (".eml", ".bin")]
    for _ in range(300):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 30)):
            position = rng.randrange(len(raw))
            action = rng.random()
            if action < 0.4:
                raw[position] = rng.randrange(256)
            elif action < 0.7:
                raw[position:position] = rng.choice(
                    [b"\r\n", b"--", b"=?", b"?=", b'"', b";", b"=", b"\r\n\r\n"]
                )
            else:
                del raw[position : position + rng.randint(1, 40)]
        result = parse_message(bytes(raw[: rng.randrange(len(raw) + 1)]), max_attachment_bytes=100)
        assert isinstance(result, ParsedMessage)


# ------------------------------------------------------------------------------------ parts


def test_oversized_attachments_keep_name_and_type_only() -> None:
    raw = mail(f"""
From: a@x.example
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

hi
--b
Content-Type: application/pdf
Content-Disposition: attachment; filename="big.pdf"
Content-Transfer-Encoding: base64

{base64.encodebytes(b"x" * 3000).decode()}
--b
Content-Type: text/csv
Content-Disposition: attachment; filename="big.csv"
Content-Transfer-Encoding: quoted-printable

{"a=3Db," * 400}
--b
Content-Type: image/png
Content-Disposition: attachment; filename="small.png"
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--b--
""")
    m = parse_message(raw, max_attachment_bytes=1000)
    assert [(a.filename, a.content_type, a.data) for a in m.attachments] == [
        ("big.pdf", "application/pdf", b""),
        ("big.csv", "text/csv", b""),
        ("small.png", "image/png", b"\x89PNG\r\n\x1a\n"),
    ]
    assert sum("larger than 1000 bytes" in p for p in m.problems) == 2
    assert m.text == "hi"


def test_attached_message_becomes_an_eml_file() -> None:
    raw = mail("""
From: a@x.example
Subject: Fwd: the original
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

see below
--b
Content-Type: message/rfc822

From: Bob <bob@acme.example>
Subject: =?utf-8?q?Quarterly_=C3=9Cbersicht?= / Q3
Message-ID: <inner@acme.example>

the inner body must not leak into the outer text
--b--
""")
    m = parse_message(raw)
    assert m.text == "see below"
    assert len(m.attachments) == 1
    eml = m.attachments[0]
    assert (eml.filename, eml.content_type) == ("Quarterly Übersicht _ Q3.eml", "message/rfc822")
    assert b"Message-ID: <inner@acme.example>\r\n" in eml.data
    assert eml.data.endswith(b"the inner body must not leak into the outer text")
    assert parse_message(eml.data).message_id == "inner@acme.example"


def test_inline_parts_and_unnamed_parts() -> None:
    raw = mail("""
From: a@x.example
MIME-Version: 1.0
Content-Type: multipart/related; boundary="r"

--r
Content-Type: text/html; charset=utf-8

<p>Logo: <img src="cid:logo@x"></p>
--r
Content-Type: image/png
Content-Disposition: inline; filename="logo.png"
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--r
Content-Type: image/gif
Content-ID: <spacer@x>
Content-Transfer-Encoding: base64

R0lGODlh
--r
Content-Type: text/plain
Content-Disposition: attachment

notes without a name
--r
Content-Type: text/calendar; method=REQUEST

BEGIN:VCALENDAR
--r--
""")
    m = parse_message(raw)
    assert [(a.filename, a.content_type) for a in m.attachments] == [
        ("logo.png", "image/png"),
        ("attachment.gif", "image/gif"),
        ("attachment.txt", "text/plain"),
        ("attachment.ics", "text/calendar"),
    ]
    assert m.html == '<p>Logo: <img src="cid:logo@x"></p>'
    assert m.text == "Logo:\n"


def test_filename_encodings() -> None:
    raw = mail("""
From: a@x.example
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: application/pdf; name="=?utf-8?B?w7xiZXJzaWNodC5wZGY=?="
Content-Disposition: attachment; filename="=?utf-8?B?w7xiZXJzaWNodC5wZGY=?="

x
--b
Content-Type: application/pdf
Content-Disposition: attachment; filename*=iso-8859-1''%FCbersicht%202.pdf

x
--b
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=utf-8''%C3%BCbersicht%20;
 filename*1*=Q3%20final.pdf

x
--b
Content-Type: application/pdf; name="only-in-content-type.pdf"

x
--b
Content-Type: application/pdf
Content-Disposition: attachment; filename="übersicht raw 8bit.pdf"

x
--b--
""")
    names = [a.filename for a in parse_message(raw).attachments]
    assert names == [
        "übersicht.pdf",  # RFC 2047 inside a quoted parameter (Outlook, Gmail)
        "übersicht 2.pdf",  # RFC 2231 with Latin-1
        "übersicht Q3 final.pdf",  # RFC 2231 continuations
        "only-in-content-type.pdf",
        "übersicht raw 8bit.pdf",  # RFC 6532 raw UTF-8
    ]


def test_several_text_parts_are_joined() -> None:
    raw = mail("""
From: a@x.example
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

first
--b
Content-Type: image/png; name="a.png"
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--b
Content-Type: text/plain; charset=utf-8

second
--b--
""")
    m = parse_message(raw)
    assert m.text == "first\nsecond"
    assert [a.filename for a in m.attachments] == ["a.png"]


@pytest.mark.parametrize(
    ("date_header", "expected"),
    [
        ("Date: Tue, 7 May 2024 10:00:00 -0000\n", datetime(2024, 5, 7, 10, 0, tzinfo=UTC)),
        ("Date: not a date\n", None),
        ("", None),
    ],
)
def test_dates(date_header: str, expected: datetime | None) -> None:
    assert parse_message(mail(f"From: a@x.example\n{date_header}\nbody\n")).date == expected


def test_raw_latin1_and_nul_in_headers() -> None:
    raw = b"From: J\xfcrgen <j@x.de>\r\nSubject: nul\x00here\r\n\r\nbody\x00\r\n"
    m = parse_message(raw)
    assert m.sender == Address("j@x.de", "Jürgen")
    assert m.subject == "nulhere"
    assert m.text == "body\n"


# ------------------------------------------------------------------------------------ round trip


def test_build_then_parse_round_trip() -> None:
    pdf = bytes(range(256)) * 40
    outgoing = OutgoingMessage(
        message_id="1715000000000.RoundTrip_-token@crm.example.com",
        sender=Address("alice@us.example", "Zdeněk Łukasz Wójcik-Müller"),
        to=(Address("bob@acme.example", 'Bob, Jr. "the" Builder'), Address("carol@x.example")),
        cc=(Address("d@x.example", "Ωμέγα 日本語 " * 5 + "Ende"),),
        bcc=(Address("secret@hidden.example", "Secret"),),
        subject="Re: Übersicht Q3 — Angebot für Łódź, 東京 und Zürich (final, wirklich final)",
        text="Hallo Bob,\n\nanbei die Übersicht.\nLine with trailing space \n\n-- \nAlice\n",
        html="<p>Hallo <b>Bob</b>,</p><p>anbei die <i>Übersicht</i>.</p>",
        date=datetime(2024, 5, 6, 16, 2, 11, tzinfo=timezone(timedelta(hours=2))),
        attachments=(
            Attachment("übersicht Q3 – final.pdf", "application/pdf", pdf),
            Attachment("東京 notes.txt", "text/plain", "zeile 1\r\nzeile 2\nü".encode()),
            Attachment("empty.bin", "application/octet-stream", b""),
        ),
        in_reply_to="parent@acme.example",
        references=("root@us.example",),
    )
    parsed = parse_message(build_message(outgoing))
    assert parsed.problems == ()
    assert parsed.sender == outgoing.sender
    assert parsed.to == outgoing.to
    assert parsed.cc == (Address("d@x.example", "Ωμέγα 日本語 " * 5 + "Ende"),)
    assert parsed.subject == outgoing.subject
    assert parsed.date == outgoing.date
    assert parsed.text == outgoing.text
    assert parsed.html == outgoing.html
    assert parsed.attachments == outgoing.attachments  # names, types and bytes, exactly
    assert parsed.message_id == outgoing.message_id
    assert parsed.in_reply_to == ("parent@acme.example",)
    assert parsed.references == ("root@us.example", "parent@acme.example", outgoing.message_id)


def test_round_trip_plain_text_only() -> None:
    outgoing = OutgoingMessage(
        message_id="rt2@crm.example.com",
        sender=Address("alice@us.example"),
        to=(Address("bob@acme.example"),),
        subject="plain",
        text="x" * 2000 + "\n" + "=?utf-8?q?not_an_encoded_word?=\n",
        date=datetime(2024, 1, 1, tzinfo=UTC),
    )
    parsed = parse_message(build_message(replace(outgoing)))
    assert (parsed.text, parsed.html, parsed.attachments) == (outgoing.text, None, ())
    assert parsed.sender == Address("alice@us.example", "")
