"""Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3).

Printable ASCII stands for itself except `&`, which becomes `&-`; any other run of characters is
UTF-16BE, base64 with `,` in place of `/`, no padding, wrapped in `&` ... `-`.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["decode_mailbox", "encode_mailbox"]


def _is_direct(ch: str) -> bool:
    return 0x20 <= ord(ch) <= 0x7E


def _encode_run(run: str) -> str:
    utf16 = run.encode("utf-16-be")
    return "&" + base64.b64encode(utf16).decode("ascii").rstrip("=").replace("/", ",") + "-"


def encode_mailbox(name: str) -> str:
    """Return `name` as the server expects it on the wire (pure ASCII)."""
    out: list[str] = []
    run_start = -1
    for i, ch in enumerate(name):
        if _is_direct(ch):
            if run_start >= 0:
                out.append(_encode_run(name[run_start:i]))
                run_start = -1
            out.append("&-" if ch == "&" else ch)
        elif run_start < 0:
            run_start = i
    if run_start >= 0:
        out.append(_encode_run(name[run_start:]))
    return "".join(out)


def decode_mailbox(wire: str | bytes) -> str:
    """Return the Unicode name for a wire name; ValueError if it is not valid modified UTF-7."""
    text = wire.decode("ascii") if isinstance(wire, bytes) else wire
    if "&" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        amp = text.find("&", i)
        if amp < 0:
            out.append(text[i:])
            break
        out.append(text[i:amp])
        end = text.find("-", amp + 1)
        if end < 0:
            raise ValueError(f"unterminated &-sequence in mailbox name {text!r}")
        chunk = text[amp + 1 : end]
        if not chunk:
            out.append("&")
        else:
            padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
            try:
                raw = base64.b64decode(padded, validate=True)
                out.append(raw.decode("utf-16-be"))
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ValueError(f"bad modified UTF-7 in mailbox name {text!r}") from exc
        i = end + 1
    return "".join(out)
