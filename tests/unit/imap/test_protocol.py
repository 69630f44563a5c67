"""Byte scripts for the pure IMAP core: feed bytes, assert typed responses (h11 style)."""

from __future__ import annotations

import time

import pytest

from inboxlink.imap.errors import ProtocolError
from inboxlink.imap.models import MailboxInfo
from inboxlink.imap.protocol import (
    Capability,
    Continuation,
    Enabled,
    Exists,
    Expunge,
    Fetch,
    Flags,
    ListEntry,
    MailboxStatus,
    Recent,
    Response,
    ResponseReader,
    Search,
    StatusResponse,
    Untagged,
    parse_values,
)


def feed(*chunks: bytes, reader: ResponseReader | None = None) -> list[Response]:
    reader = reader or ResponseReader()
    out: list[Response] = []
    for chunk in chunks:
        reader.feed(chunk)
        while (resp := reader.next_response()) is not None:
            out.append(resp)
    return out


def one(data: bytes) -> Response:
    (resp,) = feed(data)
    return resp


HEADER = b"Message-ID: <a@example.com>\r\nSubject: hi (there)\r\n\r\n"
FETCH_SCRIPT = (
    b"* 1 FETCH (UID 7 FLAGS (\\Seen $Forwarded) BODY[HEADER.FIELDS (MESSAGE-ID SUBJECT)] {%d}\r\n%s)\r\n"
    % (len(HEADER), HEADER)
    + b"* 2 FETCH (UID 9 FLAGS () BODY[HEADER.FIELDS (MESSAGE-ID SUBJECT)] {0}\r\n)\r\n"
    + b"* 3 EXISTS\r\n"
    + b"A0005 OK Fetch completed (0.001 + 0.000 secs).\r\n"
)


# ---- status responses and codes ---------------------------------------------------------------


def test_greeting_with_capability_code() -> None:
    resp = one(b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n")
    assert resp == StatusResponse(
        None, "OK", "CAPABILITY", "IMAP4rev1 SASL-IR LITERAL+ STARTTLS AUTH=PLAIN", "Dovecot ready."
    )


@pytest.mark.parametrize(
    ("line", "status", "code", "data", "text"),
    [
        (
            b"A1 NO [AUTHENTICATIONFAILED] Authentication failed.",
            "NO",
            "AUTHENTICATIONFAILED",
            None,
            "Authentication failed.",
        ),
        (b"A2 NO [UNAVAILABLE] Temporary failure", "NO", "UNAVAILABLE", None, "Temporary failure"),
        (b"a3 bad Error in IMAP command", "BAD", None, None, "Error in IMAP command"),
        (b"A4 OK [READ-WRITE] Select completed.", "OK", "READ-WRITE", None, "Select completed."),
        (
            b"A5 NO [TRYCREATE] Mailbox doesn't exist: Sent",
            "NO",
            "TRYCREATE",
            None,
            "Mailbox doesn't exist: Sent",
        ),
        (b"A6 OK", "OK", None, None, ""),
    ],
)
def test_tagged_status(line: bytes, status: str, code: str | None, data: str | None, text: str) -> None:
    resp = one(line + b"\r\n")
    assert isinstance(resp, StatusResponse)
    assert (resp.status, resp.code, resp.code_data, resp.text) == (status, code, data, text)
    assert resp.tag is not None


def test_appenduid_numbers() -> None:
    resp = one(b"A3 OK [APPENDUID 1700000000 3955] Append completed.\r\n")
    assert isinstance(resp, StatusResponse)
    assert (resp.code, resp.code_int(0), resp.code_int(1), resp.code_int(2)) == (
        "APPENDUID",
        1700000000,
        3955,
        None,
    )


def test_select_untagged_codes() -> None:
    script = (
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n"
        b"* 3 EXISTS\r\n* 0 RECENT\r\n"
        b"* OK [UIDVALIDITY 1700000123] UIDs valid\r\n* OK [UIDNEXT 4] Predicted next UID\r\n"
        b"* OK [HIGHESTMODSEQ 12] Highest\r\n* OK [NOMODSEQ] Sorry\r\n"
    )
    got = feed(script)
    assert got[0] == Flags(frozenset({"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"}))
    assert isinstance(got[1], StatusResponse) and got[1].code == "PERMANENTFLAGS"
    assert got[2:4] == [Exists(3), Recent(0)]
    codes = [(r.code, r.code_int()) for r in got[4:] if isinstance(r, StatusResponse)]
    assert codes == [("UIDVALIDITY", 1700000123), ("UIDNEXT", 4), ("HIGHESTMODSEQ", 12), ("NOMODSEQ", None)]


def test_bye_and_preauth() -> None:
    assert feed(b"* BYE Server shutting down.\r\n* PREAUTH ok\r\n") == [
        StatusResponse(None, "BYE", None, None, "Server shutting down."),
        StatusResponse(None, "PREAUTH", None, None, "ok"),
    ]


# ---- continuations, capabilities, simple untagged ----------------------------------------------


def test_continuations_keep_raw_for_pop3_detection() -> None:
    idling, empty, pop = feed(b"+ idling\r\n+\r\n+OK Dovecot ready.\r\n")
    assert idling == Continuation("idling") and empty == Continuation("")
    assert isinstance(pop, Continuation) and pop.raw.startswith(b"+OK")


def test_capability_and_enabled_are_upper_case_sets() -> None:
    assert feed(b"* CAPABILITY IMAP4rev1 Idle auth=PLAIN\r\n* ENABLED CONDSTORE\r\n") == [
        Capability(frozenset({"IMAP4REV1", "IDLE", "AUTH=PLAIN"})),
        Enabled(frozenset({"CONDSTORE"})),
    ]


def test_counters_and_search() -> None:
    assert feed(
        b"* 5 EXISTS\r\n* 2 EXPUNGE\r\n* SEARCH\r\n* SEARCH 3 9 12\r\n* SEARCH 4 (MODSEQ 917)\r\n"
    ) == [
        Exists(5),
        Expunge(2),
        Search(()),
        Search((3, 9, 12)),
        Search((4,)),
    ]


def test_unknown_untagged_kept_raw() -> None:
    status, ident, vanished = feed(b'* STATUS "INBOX" (MESSAGES 3)\r\n* ID NIL\r\n* 3 VANISHED\r\n')
    # STATUS is typed now (NOTIFY brings it unasked): tests/unit/imap/test_notify_protocol.py
    assert (
        status == MailboxStatus("INBOX", (("MESSAGES", 3),))
        and status.raw == b'* STATUS "INBOX" (MESSAGES 3)'
    )
    assert ident == Untagged("ID") and vanished == Untagged("VANISHED")


# ---- LIST --------------------------------------------------------------------------------------


def test_list_special_use_quoted_utf7_and_literal_names() -> None:
    script = (
        b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
        b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n'
        b'* LIST (\\HasNoChildren) "/" "Envoy&AOk-s"\r\n'
        b'* LIST (\\Noselect \\HasChildren) "." "Sent Items"\r\n'
        b'* LIST () NIL {12}\r\nwith "quote)\r\n'
        b'* LIST (\\HasNoChildren) "/" "a\\"b\\\\c"\r\n'
    )
    names = [r.mailbox for r in feed(script) if isinstance(r, ListEntry)]
    assert names == [
        MailboxInfo("INBOX", frozenset({"\\HasNoChildren"}), "/"),
        MailboxInfo("Sent", frozenset({"\\HasNoChildren", "\\Sent"}), "/"),
        MailboxInfo("Envoyés", frozenset({"\\HasNoChildren"}), "/"),
        MailboxInfo("Sent Items", frozenset({"\\Noselect", "\\HasChildren"}), "."),
        MailboxInfo('with "quote)', frozenset(), None),
        MailboxInfo('a"b\\c', frozenset({"\\HasNoChildren"}), "/"),
    ]


def test_list_with_invalid_utf7_shows_name_as_sent() -> None:
    resp = one(b'* LIST () "/" "broken&-&zzz"\r\n')
    assert isinstance(resp, ListEntry) and resp.mailbox.name == "broken&-&zzz"


# ---- FETCH -------------------------------------------------------------------------------------


def test_fetch_headers_script() -> None:
    first, second, exists, done = feed(FETCH_SCRIPT)
    assert first == Fetch(1, 7, frozenset({"\\Seen", "$Forwarded"}), None, HEADER, None, None)
    assert second == Fetch(2, 9, frozenset(), None, b"", None, None)
    assert exists == Exists(3)
    assert isinstance(done, StatusResponse) and done.tag == "A0005"


def test_fetch_script_every_split_point_gives_the_same_responses() -> None:
    expected = feed(FETCH_SCRIPT)
    for cut in range(1, len(FETCH_SCRIPT)):
        assert feed(FETCH_SCRIPT[:cut], FETCH_SCRIPT[cut:]) == expected, cut


def test_fetch_script_byte_by_byte() -> None:
    assert feed(*(FETCH_SCRIPT[i : i + 1] for i in range(len(FETCH_SCRIPT)))) == feed(FETCH_SCRIPT)


def test_literal_content_is_never_scanned() -> None:
    """A body that itself contains CRLF, parentheses and a fake literal marker."""
    body = b"Subject: x\r\n\r\nlooks like {5}\r\n* 9 EXISTS\r\n) A1 OK\r\n"
    script = b"* 4 FETCH (UID 44 RFC822.SIZE %d MODSEQ (8) BODY[] {%d}\r\n%s)\r\n" % (
        len(body),
        len(body),
        body,
    )
    assert feed(script) == [Fetch(4, 44, None, 8, None, body, len(body))]


def test_fetch_variants() -> None:
    script = (
        b"* 1 FETCH (FLAGS (\\Seen) MODSEQ (12))\r\n"  # unsolicited flag change: no UID
        b"* 2 FETCH (UID 5 BODY[] NIL)\r\n"
        b'* 3 FETCH (UID 6 BODY[HEADER.FIELDS (SUBJECT)] "Subject: \\"q\\"")\r\n'
        b"* 4 FETCH (UID 8 BODY[]<0> {3+}\r\nabc)\r\n"
        b"* 5 FETCH (UID 10 BINARY[] ~{2}\r\n\x00\x01)\r\n"
        b"* 6 FETCH (uid 11 rfc822.header {1}\r\nh rfc822 {1}\r\nb)\r\n"
    )
    assert feed(script) == [
        Fetch(1, None, frozenset({"\\Seen"}), 12, None, None, None),
        Fetch(2, 5, None, None, None, None, None),
        Fetch(3, 6, None, None, b'Subject: "q"', None, None),
        Fetch(4, 8, None, None, None, b"abc", None),
        Fetch(5, 10, None, None, None, b"\x00\x01", None),
        Fetch(6, 11, None, None, b"h", b"b", None),
    ]


def test_parse_values_types() -> None:
    assert parse_values([b'(A "b c" NIL nil (1 2) ', b" x)"], [b"lit"]) == [
        ["A", b"b c", None, None, ["1", "2"], b"lit", "x"],
    ]
    assert parse_values([b'BODY[HEADER.FIELDS (A B)] ""'], []) == ["BODY[HEADER.FIELDS (A B)]", b""]


# ---- robustness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"220 mail.example.com ESMTP Postfix\r\n",
        b"HTTP/1.1 400 Bad Request\r\n",
        b"* 1 FETCH (UID 1 FLAGS (\\Seen)\r\n",  # unbalanced
        b"* 1 FETCH (UID 1))\r\n",
        b'* 1 FETCH (UID 1 BODY[] "unterminated)\r\n',
        b"* 1 FETCH (UID x)\r\n",
        b"* OK [UIDVALIDITY 3 oops\r\n",
    ],
)
def test_not_imap_raises_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        feed(data)


def test_line_and_literal_limits() -> None:
    reader = ResponseReader(max_line_length=100, max_literal_size=10)
    with pytest.raises(ProtocolError):
        feed(b"* OK " + b"x" * 200, reader=reader)
    with pytest.raises(ProtocolError):  # complete but too long
        feed(b"* OK " + b"x" * 200 + b"\r\n", reader=ResponseReader(max_line_length=100))
    with pytest.raises(ProtocolError):
        feed(b"* 1 FETCH (BODY[] {11}\r\n", reader=ResponseReader(max_literal_size=10))


def test_many_literals_in_one_answer_are_capped() -> None:
    # Each literal is within the limit, but together they are not: a hostile server must not be
    # able to make one command's answer grow without bound.
    reader = ResponseReader(max_literal_size=10)
    assert len(feed(b"* 1 FETCH (BODY[] {6}\r\nabcdef)\r\n", reader=reader)) == 1
    with pytest.raises(ProtocolError):
        feed(b"* 2 FETCH (BODY[] {6}\r\nabcdef)\r\n", reader=reader)
    # The count is per command: the transport resets it, and the same answers then fit again.
    reader = ResponseReader(max_literal_size=10)
    assert len(feed(b"* 1 FETCH (BODY[] {6}\r\nabcdef)\r\n", reader=reader)) == 1
    reader.literal_bytes = 0
    assert len(feed(b"* 2 FETCH (BODY[] {6}\r\nabcdef)\r\n", reader=reader)) == 1


def test_bare_lf_tolerated_and_buffered_count() -> None:
    reader = ResponseReader()
    assert feed(b"* 2 EXISTS\n* 1 REC", reader=reader) == [Exists(2)]
    assert reader.buffered == len(b"* 1 REC")
    assert feed(b"ENT\r\n", reader=reader) == [Recent(1)] and reader.buffered == 0


def test_large_literal_in_small_chunks_is_linear() -> None:
    """8 MB arriving in 1 KB reads: quadratic buffering would copy gigabytes here."""
    body = b"x" * (8 << 20)
    data = b"* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)\r\n" % (len(body), body)
    reader = ResponseReader()
    started = time.perf_counter()
    got = feed(*(data[i : i + 1024] for i in range(0, len(data), 1024)), reader=reader)
    assert time.perf_counter() - started < 3.0
    assert len(got) == 1 and isinstance(got[0], Fetch) and got[0].body == body


@pytest.mark.parametrize(
    ("first", "literal"),
    [
        (b"* 1 FETCH (UID 7 FLAGS (\\Seen $Label1) BODY[HEADER.FIELDS (MESSAGE-ID SUBJECT)] ", HEADER),
        (b"* 2 FETCH (UID 8 FLAGS () MODSEQ (99) RFC822.SIZE 5 BODY[] ", b"hello"),
        (b"* 3 FETCH (MODSEQ (4) UID 9 BODY[]<0> ", b""),
        (b"* 4 FETCH (FLAGS (\\Deleted) UID 10)", None),
        (b"* 5 FETCH (UID 11 BODY[HEADER] ", b"X: y\r\n\r\n"),
    ],
)
def test_fast_fetch_path_agrees_with_the_general_parser(first: bytes, literal: bytes | None) -> None:
    from inboxlink.imap import protocol

    segments = [first, b")"] if literal is not None else [first]
    literals = [literal] if literal is not None else []
    assert protocol._FAST_FETCH_RE.fullmatch(first) is not None  # really the fast path
    general = protocol._fetch(int(first.split()[1]), segments, literals, first.index(b"("))
    assert protocol.parse_response(segments, literals) == general
    # lower-case items miss the fast path and must give the same answer
    lowered = [first.replace(b"UID", b"uid").replace(b"FLAGS", b"flags"), *segments[1:]]
    assert protocol._FAST_FETCH_RE.fullmatch(lowered[0]) is None
    assert protocol.parse_response(lowered, literals) == general
