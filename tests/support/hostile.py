"""Hostile replies, built byte by byte the way an attacker would put them on the wire (issue 9): they
answer a tracked email, so inboxlink fetches and logs them in full. Shared by the tests and
bench/hostile_mail.py."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.utils import format_datetime


def _head(sender: str, to: str, parent_id: str, subject: str, extra: str = "") -> tuple[str, str]:
    message_id = f"hostile-{secrets.token_hex(6)}@attacker.example"
    head = (
        f"From: {sender}\r\nTo: {to}\r\n{extra}Subject: {subject}\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\nMessage-ID: <{message_id}>\r\n"
        f"In-Reply-To: <{parent_id}>\r\nReferences: <{parent_id}>\r\nMIME-Version: 1.0\r\n"
    )
    return message_id, head


def many_parts(sender: str, to: str, parent_id: str, parts: int = 100_000) -> tuple[str, bytes]:
    """A reply of `parts` one-byte attachments (100,000 → ~10 MB), after one line of text."""
    message_id, head = _head(sender, to, parent_id, "Re: parts")
    boundary = "b" + secrets.token_hex(8)
    part = (
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="a.bin"\r\n\r\nA\r\n'
    )
    body = (
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nmany parts follow\r\n"
        + part * parts
        + f"--{boundary}--\r\n"
    )
    return message_id, (head + body).encode()


def big_html(sender: str, to: str, parent_id: str, size: int = 17_000_000) -> tuple[str, bytes]:
    """A reply whose only body is `size` bytes of ordinary-looking HTML."""
    message_id, head = _head(sender, to, parent_id, "Re: html")
    unit = '<p>Hello <b>there</b>, see <a href="https://attacker.example/">this</a>.</p>\r\n'
    html = "<html><body>" + unit * (size // len(unit)) + "<p>THE-END-MARKER</p></body></html>\r\n"
    return message_id, (head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()


def many_cc(sender: str, to: str, parent_id: str, count: int = 40_000) -> tuple[str, bytes]:
    """A short reply with `count` addresses in Cc (40,000 → ~790 KB)."""
    cc = ",\r\n ".join(f"p{i}@spam{i % 97}.example" for i in range(count))
    message_id, head = _head(sender, to, parent_id, "Re: cc", extra=f"Cc: {cc}\r\n")
    return message_id, (head + "Content-Type: text/plain\r\n\r\nhello everyone\r\n").encode()


def typed_attachment(sender: str, to: str, parent_id: str, content_type: str) -> tuple[str, bytes]:
    """A reply with one attachment whose Content-Type is written exactly as given."""
    message_id, head = _head(sender, to, parent_id, "Re: typed")
    boundary = "b" + secrets.token_hex(8)
    body = (
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nsee the file\r\n"
        f"--{boundary}\r\nContent-Type: {content_type}\r\n"
        'Content-Disposition: attachment; filename="page.html"\r\n\r\n<p>hi</p>\r\n'
        f"--{boundary}--\r\n"
    )
    return message_id, (head + body).encode()
