"""mime.parse_message under hostile input: the caps on parts, attachments, text and HTML (issue 9),
and headers read within bounded work."""

from inboxlink.domain.models import Address
from inboxlink.mime.parse import (
    MAX_ATTACHMENTS,
    MAX_HTML_CHARS,
    MAX_TEXT_CHARS,
    TRUNCATED,
    headers_only,
    parse_message,
)
from tests.support import hostile

CLIENT_ADDRESS = "client@prospect.example"


def mail(text: str) -> bytes:
    """A hand-written message: `\\n` in the literal becomes CRLF on the wire."""
    return text.lstrip("\n").replace("\n", "\r\n").encode("utf-8")


# ------------------------------------------------------------------------------------ caps (issue 9)

HOSTILE_TO = "me@us.example"
PARENT = "parent@us.example"


def test_a_message_of_100000_parts_is_read_up_to_the_caps() -> None:
    _id, raw = hostile.many_parts(CLIENT_ADDRESS, HOSTILE_TO, PARENT)
    m = parse_message(raw)
    assert m.text.strip() == "many parts follow"
    assert len(m.attachments) == MAX_ATTACHMENTS
    assert any(p.startswith(TRUNCATED) and "MIME parts" in p for p in m.problems)
    [skipped] = [p for p in m.problems if "were not kept" in p]
    assert skipped.startswith(TRUNCATED) and "beyond the first 100" in skipped and "more" in skipped


def test_text_and_html_are_cut_at_their_limits() -> None:
    _id, raw = hostile.big_html(CLIENT_ADDRESS, HOSTILE_TO, PARENT, size=MAX_HTML_CHARS * 2)
    m = parse_message(raw)
    assert m.html is not None and len(m.html) <= MAX_HTML_CHARS and "THE-END-MARKER" not in m.html
    assert m.html.endswith("</p>")
    assert len(m.text) <= MAX_TEXT_CHARS and "Hello there" in m.text
    assert [p for p in m.problems if p.startswith(TRUNCATED)] == [
        f"{TRUNCATED}the HTML was longer than {MAX_HTML_CHARS:,} characters and was cut"
    ]
    lines = "line of text ünïcode\n" * (MAX_TEXT_CHARS // 20)
    long_text = mail(f"""
From: a@x.example
Content-Type: text/plain; charset=utf-8

{lines}
""")
    m = parse_message(long_text)
    assert len(m.text) <= MAX_TEXT_CHARS and m.text.endswith("ünïcode\n")  # cut at a line break
    assert any(p.startswith(TRUNCATED) and "text" in p for p in m.problems)


def test_40000_addresses_are_all_read() -> None:
    _id, raw = hostile.many_cc(CLIENT_ADDRESS, HOSTILE_TO, PARENT, count=40_000)
    m = parse_message(raw)
    assert (
        len(m.cc) == 40_000
        and m.cc[0] == Address("p0@spam0.example")
        and m.cc[-1].email == "p39999@spam35.example"
    )
    assert m.sender == Address(CLIENT_ADDRESS) and m.to == (Address(HOSTILE_TO),)


def test_long_headers_are_read_with_the_simple_decoder() -> None:
    names = ", ".join(f"=?utf-8?q?J=C3=B6rg_{i}?= <j{i}@x.example>" for i in range(400))
    raw = mail(f"""
From: =?utf-8?q?Zden=C4=9Bk?= <z@x.example>
To: {names}
Subject: {"=?utf-8?q?=C3=BC?= " * 5_000}
Date: Tue, 07 May 2024 11:14:21 +0200

hi
""")
    m = parse_message(raw)
    assert m.sender == Address("z@x.example", "Zdeněk")
    assert len(m.to) == 400 and m.to[7] == Address("j7@x.example", "Jörg 7")
    assert 1_000 < len(m.subject) < 5_000 and set(m.subject) <= {"ü", " "}  # only the first 64 KB
    assert any("Subject" in p for p in m.problems)


def test_attachment_types_are_checked() -> None:
    _id, raw = hostile.typed_attachment(CLIENT_ADDRESS, HOSTILE_TO, PARENT, "text/ht\x0bml")
    [page] = parse_message(raw).attachments
    assert (page.filename, page.content_type, page.data.strip()) == (
        "page.html",
        "application/octet-stream",
        b"<p>hi</p>",
    )
    _id, raw = hostile.typed_attachment(CLIENT_ADDRESS, HOSTILE_TO, PARENT, "Application/PDF")
    assert [a.content_type for a in parse_message(raw).attachments] == ["application/pdf"]


def test_headers_only_reads_the_headers_in_bounded_time() -> None:
    _id, raw = hostile.many_cc(CLIENT_ADDRESS, HOSTILE_TO, PARENT, count=40_000)
    m = headers_only(raw, text="too complex", problem=f"{TRUNCATED}budget")
    assert (m.sender, m.subject, m.text, m.html, m.attachments) == (
        Address(CLIENT_ADDRESS),
        "Re: cc",
        "too complex",
        None,
        (),
    )
    assert m.in_reply_to == (PARENT,) and m.message_id == _id
    assert 1_000 < len(m.cc) < 40_000  # only the first 64 KB of the header block is read
    assert m.problems == (f"{TRUNCATED}budget",)
