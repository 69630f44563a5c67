"""Writing like in a mail client (issue 14 item 6), the pure parts: reply-all recipients, a forward's
subject and quoted block (read back by mime.forwarded), draft contexts, and the composer's HTML
cleaned to the toolbar's formatting with a text part derived from it."""

from __future__ import annotations

import pytest

from inboxlink.domain.writing import DraftContext, draft_context, forward_subject, forwarded_block, reply_all
from inboxlink.mime.composed import composed_html, text_alternative, text_to_html
from inboxlink.mime.forwarded import parse_forwarded

ME = "sam@us.test"
ANN = {"email": "ann@client.test", "name": "Ann"}
BOB = {"email": "bob@client.test", "name": ""}
CAT = {"email": "cat@partner.test", "name": "Cat"}
SAM = {"email": ME, "name": "Sam"}


@pytest.mark.parametrize(
    ("direction", "sender", "to", "cc", "own", "want_to", "want_cc"),
    [
        # Ann wrote to me and Bob, Cat in Cc: Ann answers, Bob and Cat copied, I am not.
        (
            "inbound",
            ANN,
            [SAM, BOB],
            [CAT],
            [ME],
            ["ann@client.test"],
            ["bob@client.test", "cat@partner.test"],
        ),
        # My own address in another case is still me.
        (
            "inbound",
            ANN,
            [{"email": "SAM@us.test", "name": ""}],
            [BOB],
            [ME],
            ["ann@client.test"],
            ["bob@client.test"],
        ),
        # An email I sent: its To again, its Cc again, without me (I Cc'd myself).
        (
            "outbound",
            SAM,
            [ANN, BOB],
            [CAT, SAM],
            [ME],
            ["ann@client.test", "bob@client.test"],
            ["cat@partner.test"],
        ),
        # An address twice (To and Cc) appears once.
        ("inbound", ANN, [SAM, ANN], [BOB, BOB], [ME], ["ann@client.test"], ["bob@client.test"]),
        # I wrote only to myself with Cc: the first Cc answers.
        ("outbound", SAM, [SAM], [ANN, BOB], [ME], ["ann@client.test"], ["bob@client.test"]),
        # Another of my inboxes is me too.
        (
            "inbound",
            ANN,
            [{"email": "sales@us.test", "name": ""}],
            [BOB],
            [ME, "sales@us.test"],
            ["ann@client.test"],
            ["bob@client.test"],
        ),
    ],
)
def test_reply_all_is_everyone_but_me(direction, sender, to, cc, own, want_to, want_cc):  # type: ignore[no-untyped-def]
    found = reply_all(direction, sender, to, cc, own)
    assert [p["email"] for p in found.to] == want_to
    assert [p["email"] for p in found.cc] == want_cc


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Our offer", "Fwd: Our offer"),
        ("Re: Our offer", "Fwd: Re: Our offer"),
        ("Fwd: Our offer", "Fwd: Our offer"),
        ("FW: Our offer", "FW: Our offer"),
        ("WG: Angebot", "WG: Angebot"),
        ("", "Fwd:"),
        ("  Offer  ", "Fwd: Offer"),
    ],
)
def test_forward_subject(subject: str, expected: str) -> None:
    assert forward_subject(subject) == expected


def test_forwarded_block_is_what_mail_clients_write_and_reads_back() -> None:
    block = forwarded_block(
        ANN, "Thu, 03 Dec 2026 06:30:00 +0000", "Re: Our offer", [SAM], [CAT], "Thursday works.\r\nAnn\n\n"
    )
    assert block.splitlines()[:6] == [
        "---------- Forwarded message ---------",
        "From: Ann <ann@client.test>",
        "Date: Thu, 03 Dec 2026 06:30:00 +0000",
        "Subject: Re: Our offer",
        "To: Sam <sam@us.test>",
        "Cc: Cat <cat@partner.test>",
    ]
    assert block.endswith("\n\nThursday works.\nAnn\n")
    original = parse_forwarded("FYI, see below.\n\n" + block)
    assert original is not None
    assert original.sender.email == "ann@client.test" and original.subject == "Re: Our offer"
    assert original.text.strip() == "Thursday works.\nAnn"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("new", DraftContext("new", None)),
        ("reply:12", DraftContext("reply", 12)),
        ("forward:9", DraftContext("forward", 9)),
        ("reply:0", None),
        ("reply:-1", None),
        ("reply:12x", None),
        ("forward:" + "9" * 19, None),
        ("delete:1", None),
        ("", None),
        (None, None),
    ],
)
def test_draft_context(raw: str | None, expected: DraftContext | None) -> None:
    assert draft_context(raw) == expected
    if expected is not None:
        assert draft_context(expected.key) == expected


@pytest.mark.parametrize(
    ("html", "kept", "gone"),
    [
        ("<p>Hi <b>Bob</b></p>", ["<p>Hi <b>Bob</b></p>"], []),
        ("<ul><li>one</li><li>two</li></ul>", ["<ul><li>one</li><li>two</li></ul>"], []),
        ('<p onclick="steal()">x</p>', ["<p>x</p>"], ["onclick", "steal"]),
        ("<script>alert(1)</script><p>ok</p>", ["<p>ok</p>"], ["script", "alert"]),
        ('<a href="javascript:alert(1)">bad</a>', ["bad"], ["javascript", "href"]),
        ('<a href=" java\tscript:alert(1)">bad</a>', ["bad"], ["script:", "href"]),
        ('<a href="https://x.test/a">site</a>', ['href="https://x.test/a"', 'rel="noopener noreferrer"'], []),
        ('<img src="https://t.test/p.png" onerror="x()">', [], ["img", "onerror"]),
        ('<span style="position:fixed">s</span>', ["s"], ["style", "span"]),
        ('<iframe srcdoc="<script>x</script>"></iframe><p>a</p>', ["<p>a</p>"], ["iframe", "srcdoc"]),
        ('<a href="data:text/html,x">d</a>', ["d"], ["data:"]),
    ],
)
def test_composed_html_keeps_only_the_toolbars_formatting(
    html: str, kept: list[str], gone: list[str]
) -> None:
    cleaned = composed_html(html)
    for part in kept:
        assert part in cleaned
    for part in gone:
        assert part not in cleaned


def test_text_alternative_reads_like_the_email() -> None:
    cleaned = composed_html(
        "<div>Hi <b>Bob</b>,</div><ul><li>one</li><li>two</li></ul>"
        '<div>See <a href="https://x.test/p?a=1&amp;b=2">the plan</a> or <a href="mailto:a@x.test">a@x.test</a></div>'
    )
    assert text_alternative(cleaned) == (
        "Hi Bob,\n\n- one\n- two\n\nSee the plan (https://x.test/p?a=1&b=2) or a@x.test\n"
    )
    assert text_to_html("a < b\nc & d") == "a &lt; b<br>\nc &amp; d"


def test_text_alternative_keeps_the_signature_delimiter() -> None:
    cleaned = composed_html("Thanks<br><br>-- <br>Sam Seller")
    assert text_alternative(cleaned) == "Thanks\n\n-- \nSam Seller\n"
