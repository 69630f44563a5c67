"""Connect failures in a salesperson's words: what a socket or TLS error means for the settings they
typed (a closed port, SSL/TLS spoken to a STARTTLS port), and server words quoted without a doubled
full stop. Pure: the IMAP/SMTP rooms pass errno numbers and reason strings in."""

from __future__ import annotations

import errno as errnos

# errno → what it means at the form ("{where}" is host:port).
SOCKET_TEXT = {
    errnos.ECONNREFUSED: "nothing accepts connections at {where} (the connection was refused): check the port",
    errnos.ECONNRESET: "{where} closed the connection at once: check the port and the security setting",
    errnos.EHOSTUNREACH: "the network has no route to {where}: check the server name",
    errnos.ENETUNREACH: "the network has no route to {where}: check the server name",
    errnos.ETIMEDOUT: "{where} did not answer in time: check the server name and port",
}

# OpenSSL reasons that mean "what answered does not speak TLS at once": the usual cause is SSL/TLS
# chosen for a port that expects STARTTLS (587, 143, 25) or plain text.
PLAINTEXT_PEER_REASONS = ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST", "RECORD_LAYER_FAILURE")
STARTTLS_PORTS = {"imap": 143, "smtp": 587}


def socket_text(number: int | None, where: str, fallback: str) -> str:
    """The sentence for a failed connect with this errno; `fallback` (the OS's words) otherwise."""
    template = SOCKET_TEXT.get(number or 0)
    return template.format(where=where) if template else fallback


def starttls_hint(reason: str, security: str, side: str, port: int) -> str:
    """Advice when SSL/TLS met a peer that answered in plain text; empty when that is not the case."""
    if security != "tls" or not any(r in reason.upper() for r in PLAINTEXT_PEER_REASONS):
        return ""
    usual = STARTTLS_PORTS.get(side)
    return (
        f"The server at port {port} answered without TLS: it probably expects STARTTLS. "
        f"Choose STARTTLS as the security{f' (usual on port {usual})' if usual else ''}, or SSL/TLS with "
        f"{'port 993' if side == 'imap' else 'port 465'}."
    )


def parenthetical(server_text: str | None) -> str:
    """` (server words)` for the end of a sentence, without the server's own final stop."""
    words = (server_text or "").strip().rstrip(".").strip()
    return f" ({words})" if words else ""
