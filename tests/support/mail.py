"""Request bodies and small helpers for talking to the suite's Dovecot and provider SMTP."""

from __future__ import annotations

from typing import Any


def inbox_body(
    mail_server: Any, provider: Any, user: Any, *, imap: str = "tls", smtp: str = "starttls", **extra: Any
) -> dict[str, Any]:
    return {
        "email": user.email,
        "protocol": "imap",
        "username": user.email,
        "password": user.password,
        "imap": {
            "host": "127.0.0.1",
            "port": mail_server.imaps_port if imap == "tls" else mail_server.imap_port,
            "security": imap,
        },
        "smtp": {
            "host": "127.0.0.1",
            "port": provider.tls_port if smtp == "tls" else provider.starttls_port,
            "security": smtp,
        },
        **extra,
    }
