"""Inline forward blocks as mail clients write them → the original's sender, subject, date and text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from inboxlink.domain.models import Address
from inboxlink.mime.forwarded import parse_forwarded, parse_loose_date

ALICE = Address("alice@prospect.test", "Alice Example")
SAM = Address("sam@crm.test", "Sam Seller")

GMAIL = """FYI, see below.

---------- Forwarded message ---------
From: Alice Example <alice@prospect.test>
Date: Mon, Jun 3, 2024 at 10:15 PM
Subject: Pricing question
To: Sam Seller <sam@crm.test>
Cc: Bob <bob@prospect.test>, carol@prospect.test


Hi Sam,
what does the Pro plan cost?

Alice
"""

GMAIL_HTML_RENDERED = """---------- Forwarded message ---------
From: *Alice Example* <alice@prospect.test>

Date: Mon, 3 Jun 2024 at 22:15

Subject: Pricing question

To: <sam@crm.test>


Hi Sam,
what does the Pro plan cost?
"""

THUNDERBIRD = """-------- Forwarded Message --------
Subject: 	Pricing question
Date: 	Mon, 3 Jun 2024 22:15:00 +0200
From: 	Alice Example <alice@prospect.test>
To: 	Sam Seller <sam@crm.test>

Hi Sam,
what does the Pro plan cost?
"""

OUTLOOK_CLASSIC = """Please log this.

-----Original Message-----
From: Alice Example [mailto:alice@prospect.test]
Sent: Monday, June 3, 2024 10:15 PM
To: Sam Seller <sam@crm.test>
Subject: Pricing question

Hi Sam,
what does the Pro plan cost?
"""

OUTLOOK_NEW = """
________________________________
From: Example, Alice <alice@prospect.test>
Sent: Monday, 3 June 2024 22:15
To: Sam Seller <sam@crm.test>; Bob Builder <bob@prospect.test>
Subject: Pricing question

Hi Sam,
what does the Pro plan cost?
"""

APPLE_QUOTED = """Sent from my iPhone

Begin forwarded message:

> From: Alice Example <alice@prospect.test>
> Subject: Pricing question
> Date: 3 June 2024 at 22:15:00 CEST
> To: Sam Seller <sam@crm.test>
>
> Hi Sam,
> what does the Pro plan cost?
"""

APPLE_PLAIN = """Begin forwarded message:

From: Alice Example <alice@prospect.test>
Subject: Pricing question
Date: June 3, 2024 at 10:15:00 PM GMT+2
To: Sam Seller <sam@crm.test>

Hi Sam,
what does the Pro plan cost?
"""

BODY = "Hi Sam,\nwhat does the Pro plan cost?"
NAIVE = datetime(2024, 6, 3, 22, 15)
PLUS2 = datetime(2024, 6, 3, 22, 15, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("text", "style", "sender", "date", "to", "body"),
    [
        (GMAIL, "gmail", ALICE, NAIVE, (SAM,), BODY + "\n\nAlice"),
        (GMAIL_HTML_RENDERED, "gmail", ALICE, NAIVE, (Address("sam@crm.test"),), BODY),
        (THUNDERBIRD, "gmail", ALICE, PLUS2, (SAM,), BODY),
        (OUTLOOK_CLASSIC, "outlook", ALICE, NAIVE, (SAM,), BODY),
        (
            OUTLOOK_NEW,
            "outlook",
            Address("alice@prospect.test", "Example, Alice"),
            NAIVE,
            (SAM, Address("bob@prospect.test", "Bob Builder")),
            BODY,
        ),
        (APPLE_QUOTED, "apple", ALICE, PLUS2, (SAM,), BODY),
        (APPLE_PLAIN, "apple", ALICE, PLUS2, (SAM,), BODY),
    ],
    ids=["gmail", "gmail-html", "thunderbird", "outlook", "outlook-new", "apple-quoted", "apple-plain"],
)
def test_forward_blocks(text, style, sender, date, to, body) -> None:
    found = parse_forwarded(text)
    assert found is not None
    assert found.style == style
    assert found.sender == sender
    assert found.subject == "Pricing question"
    assert found.date == date
    assert found.to == to
    assert found.text == body


def test_gmail_cc_list() -> None:
    found = parse_forwarded(GMAIL)
    assert found is not None
    assert found.cc == (Address("bob@prospect.test", "Bob"), Address("carol@prospect.test"))


def test_crlf_and_first_block_wins() -> None:
    nested = GMAIL + "\n" + OUTLOOK_CLASSIC.replace("alice@", "older@")
    found = parse_forwarded(nested.replace("\n", "\r\n"))
    assert found is not None and found.sender == ALICE and "older@" in found.text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Just a note, nothing forwarded.",
        "---------- Forwarded message ---------\nno header block here\n",
        "________________________________\nKind regards, the signature line above is not a forward\n",
        "-----Original Message-----\nFrom: Alice Example\nSent: Monday\nSubject: x\n\nno address anywhere\n",
        "We discussed it. Begin forwarded message: in the middle of a sentence\nFrom: a@b.test\n",
    ],
    ids=["empty", "no-marker", "no-headers", "signature-rule", "no-address", "marker-mid-line"],
)
def test_not_a_forward(text: str) -> None:
    assert parse_forwarded(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mon, Jun 3, 2024 at 10:15 AM", datetime(2024, 6, 3, 10, 15)),
        ("Mon, Jun 3, 2024 at 12:05 AM", datetime(2024, 6, 3, 0, 5)),
        ("Monday, June 3, 2024 12:30 PM", datetime(2024, 6, 3, 12, 30)),
        ("Monday, 3 June 2024 10:15:42", datetime(2024, 6, 3, 10, 15, 42)),
        ("3 Jun 2024, at 10:15", datetime(2024, 6, 3, 10, 15)),
        (
            "June 3, 2024 at 10:15:00 AM PDT",
            datetime(2024, 6, 3, 10, 15, tzinfo=timezone(timedelta(hours=-7))),
        ),
        ("Mon, 03 Jun 2024 10:15:00 -0000", datetime(2024, 6, 3, 10, 15, tzinfo=UTC)),
        (
            "June 3, 2024 at 10:15 GMT-03:30",
            datetime(2024, 6, 3, 10, 15, tzinfo=timezone(-timedelta(hours=3, minutes=30))),
        ),
        ("", None),
        ("yesterday", None),
        ("Feb 30, 2024 at 10:15", None),
        ("Smarch 3, 2024 at 10:15", None),
    ],
)
def test_loose_dates(text: str, expected: datetime | None) -> None:
    assert parse_loose_date(text) == expected
