"""The BCC sender rules (domain.sender_auth) and the header-block From reader (mime.authors), table-driven."""

from __future__ import annotations

import pytest

from inboxlink.domain.sender_auth import (
    DkimResult,
    SpfResult,
    Verdict,
    aligned,
    from_refusal,
    judge,
    judge_forwarded,
)
from inboxlink.mime.authors import MAX_HEADER_BYTES, HeaderBlockTooLarge, from_fields
from inboxlink.mime.parse import parse_message


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ((), None),  # no From at all: the envelope sender stands in
        ((("sam@corp.test",),), None),
        (
            (("sam@corp.test",), ("eve@evil.test",)),
            "The message has 2 From header fields; send it with exactly one",
        ),
        (
            (("sam@corp.test", "evil"),),
            "From lists 2 addresses (sam@corp.test, evil); send it with exactly one author",
        ),
        (
            (("a@x", "b@x", "c@x", "d@x"),),
            "From lists 4 addresses (a@x, b@x, c@x, ...); send it with exactly one author",
        ),
        (((),), "The From header field has no address inboxlink can read"),  # `From: undisclosed:;`
        ((("sam",),), "The From header field has no address inboxlink can read"),
        ((("@corp.test",),), "The From header field has no address inboxlink can read"),
    ],
)
def test_from_refusal(fields, refusal):
    assert from_refusal(fields) == refusal


@pytest.mark.parametrize(
    ("domain", "from_domain", "expected"),
    [
        ("corp.test", "corp.test", True),
        ("Corp.Test.", "corp.test", True),
        ("corp.test", "mail.corp.test", True),  # the parent zone's owner signs for its subdomain
        ("bounce.corp.test", "corp.test", True),
        ("a.corp.test", "b.corp.test", False),  # siblings: stricter than DMARC's relaxed mode
        ("xcorp.test", "corp.test", False),
        ("gappssmtp.com", "corp.test", False),
        ("", "corp.test", False),
    ],
)
def test_aligned(domain, from_domain, expected):
    assert aligned(domain, from_domain) is expected


PASS = SpfResult("pass", "corp.test", "192.0.2.1")


@pytest.mark.parametrize(
    ("dkim", "spf", "verdict"),
    [
        ([DkimResult("corp.test", True)], None, Verdict(True, "DKIM signature by corp.test")),
        (
            [DkimResult("esp.test", True), DkimResult("corp.test", True)],
            None,
            Verdict(True, "DKIM signature by corp.test"),
        ),
        ([], PASS, Verdict(True, "SPF pass for corp.test from 192.0.2.1")),
        (
            [DkimResult("esp.test", True)],
            SpfResult("pass", "esp.test", "192.0.2.1"),
            Verdict(
                False,
                "no DKIM signature by corp.test (only by esp.test); SPF pass for esp.test from 192.0.2.1, which is not corp.test",
            ),
        ),
        (
            [DkimResult("corp.test", False, "body hash mismatch")],
            SpfResult("softfail", "corp.test", "192.0.2.9"),
            Verdict(
                False,
                "DKIM signature by corp.test did not verify (body hash mismatch); SPF softfail for corp.test from 192.0.2.9",
            ),
        ),
        ([], None, Verdict(False, "no DKIM signature by corp.test; SPF not checked")),
    ],
)
def test_judge(dkim, spf, verdict):
    assert judge("corp.test", dkim, spf) == verdict


def test_judge_forwarded_needs_the_originals_own_signature():
    assert judge_forwarded("client.test", [DkimResult("client.test", True)]).verified is True
    assert judge_forwarded("client.test", [DkimResult("corp.test", True)]) == Verdict(
        False, "forwarded original: no DKIM signature by client.test (only by corp.test)"
    )


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        (b"From: Sam <sam@corp.test>\r\nTo: c@x.test\r\n\r\nbody", (("sam@corp.test",),)),
        (b"From: sam@corp.test, evil\r\n\r\n", (("sam@corp.test", "evil"),)),
        (b"From: sam@corp.test\r\nFrom: eve@evil.test\r\n\r\n", (("sam@corp.test",), ("eve@evil.test",))),
        (
            b"From: sam@corp.test\n\nFrom: eve@evil.test\n",
            (("sam@corp.test",),),
        ),  # bare LF; a From in the body
        (b"Subject: none\r\n\r\nFrom: eve@evil.test\r\n", ()),
        (b"\r\nFrom: eve@evil.test\r\n", ()),  # no header block at all
        (b"From: =?utf-8?q?S=C3=A4m?= <sam@corp.test>", (("sam@corp.test",),)),  # headers only, no body
        (b"From: sam@corp.test\r\n (a comment\r\n  folded)\r\n\r\n", (("sam@corp.test",),)),
    ],
)
def test_from_fields_reads_the_header_block(raw, fields):
    assert from_fields(raw) == fields
    # The full parse that follows reads the same author (where there is exactly one to read).
    parsed = parse_message(raw)
    if not fields:
        assert parsed.sender is None
    elif len(fields) == 1 and len(fields[0]) == 1:
        assert parsed.sender is not None and parsed.sender.email == fields[0][0]


def test_from_fields_refuses_a_header_block_no_mta_would_pass():
    endless = b"From: sam@corp.test\r\n" + b"X-Junk: " + b"j" * 1000 + b"\r\n"
    with pytest.raises(HeaderBlockTooLarge):
        from_fields(endless * (MAX_HEADER_BYTES // 1000 + 1))
    # A large body behind a normal header block is not read at all.
    assert from_fields(b"From: sam@corp.test\r\n\r\n" + b"x" * (10 * MAX_HEADER_BYTES)) == (
        ("sam@corp.test",),
    )
