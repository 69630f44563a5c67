"""domain.bounces: DSNs byte by byte (RFC 3464), and the common non-standard bounce."""

from __future__ import annotations

import pytest

from inboxlink.domain.bounces import looks_like_bounce, read_bounce


def dsn(action: str, status: str, *, original: str = "text/rfc822-headers", diag: str = "") -> bytes:
    inner = (
        b"Content-Type: message/rfc822\r\n\r\nMessage-ID: <step1.abc@sender.example>\r\nSubject: Hi\r\n\r\nbody\r\n"
        if original == "message/rfc822"
        else b"Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: <step1.abc@sender.example>\r\nSubject: Hi\r\n"
    )
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.sender.example>\r\n"
        b"To: sam@sender.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <dsn.1@mx.sender.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.sender.example\r\n\r\n"
        b"Final-Recipient: rfc822; Chris@Prospect.example\r\n"
        b"Action: "
        + action.encode()
        + b"\r\nStatus: "
        + status.encode()
        + b"\r\n"
        + (b"Diagnostic-Code: smtp; " + diag.encode() + b"\r\n" if diag else b"")
        + b"\r\n--B\r\n"
        + inner
        + b"--B--\r\n"
    )


@pytest.mark.parametrize(
    ("action", "status", "original", "permanent", "code"),
    [
        ("failed", "5.1.1", "text/rfc822-headers", True, "5.1.1"),
        ("failed", "5.2.2", "message/rfc822", True, "5.2.2"),
        ("delayed", "4.4.1", "text/rfc822-headers", False, "4.4.1"),
        ("failed", "4.4.7", "message/rfc822", False, "4.4.7"),  # a temporary failure given up on
    ],
)
def test_rfc3464_reports(action: str, status: str, original: str, permanent: bool, code: str) -> None:
    bounce = read_bounce(dsn(action, status, original=original, diag="550 5.1.1 no such user"))
    assert bounce is not None and bounce.standard
    assert bounce.original_message_id == "step1.abc@sender.example"
    assert bounce.permanent is permanent
    assert bounce.status == code
    assert bounce.recipients[0].recipient == "chris@prospect.example"
    assert "chris@prospect.example" in bounce.reason()


def test_success_reports_are_no_bounce() -> None:
    assert read_bounce(dsn("delivered", "2.0.0")) is None
    assert read_bounce(dsn("relayed", "2.0.0")) is None


def test_ordinary_mail_is_no_bounce() -> None:
    raw = b"From: chris@prospect.example\r\nSubject: Re: Hi\r\nIn-Reply-To: <step1.abc@sender.example>\r\n\r\nThanks\r\n"
    assert read_bounce(raw) is None
    assert not looks_like_bounce(raw)


def test_non_standard_mailer_daemon_bounce() -> None:
    raw = (
        b"From: MAILER-DAEMON@old.example\r\nSubject: failure notice\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="X"\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\n'
        b"Sorry, no mailbox here by that name.\r\n--X\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Message-ID: <step1.abc@sender.example>\r\n\r\nbody\r\n--X--\r\n"
    )
    bounce = read_bounce(raw)
    assert bounce is not None and not bounce.standard and bounce.permanent
    assert bounce.original_message_id == "step1.abc@sender.example"


def test_match_headers_flag_a_report() -> None:
    assert looks_like_bounce(b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n')
    assert looks_like_bounce(b"Subject: x\r\nFrom: MAILER-DAEMON@mx.example\r\n")


def test_hostile_report_is_bounded() -> None:
    blocks = b"".join(
        b"Final-Recipient: rfc822; a%d@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" % i
        for i in range(5000)
    )
    raw = (
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        + blocks
        + b"--B--\r\n"
    )
    bounce = read_bounce(raw)
    assert bounce is not None and len(bounce.recipients) == 100 and bounce.original_message_id is None
