"""Input checks shared by the use cases: every refusal says which field and why."""

from __future__ import annotations

import re

from inboxlink.services.errors import ServiceError

# Deliberately plain: one @, a dot-free-or-dotted domain, no spaces or control characters. Full
# RFC 5321 grammar admits quoted local parts no CRM user has; refusing them is the safer error.
_ADDRESS = re.compile(
    r"^[^@\s\x00-\x1f\x7f\"<>(),;:\\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$"
)


def normalise_address(value: object, *, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ServiceError("invalid_address", f"{field}: an email address is required.", field=field)
    address = value.strip()
    if len(address) > 254 or not _ADDRESS.match(address):
        raise ServiceError(
            "invalid_address", f"{field}: {address[:80]!r} is not a valid email address.", field=field
        )
    local, _, domain = address.rpartition("@")
    # Domains are case-insensitive; local parts technically are not, but every real provider folds them.
    return f"{local.lower()}@{domain.lower()}"


def header_text(value: object, *, field: str, max_len: int = 998, required: bool = False) -> str:
    """A value that goes into a mail header: no CR/LF (header injection), bounded length."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ServiceError("invalid_field", f"{field} must be text.", field=field)
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ServiceError(
            "header_injection",
            f"{field} must be a single line: line breaks are not allowed in email headers.",
            field=field,
        )
    if len(value) > max_len:
        raise ServiceError("field_too_long", f"{field} is longer than {max_len} characters.", field=field)
    if required and not value.strip():
        raise ServiceError("field_required", f"{field} is required.", field=field)
    return value
