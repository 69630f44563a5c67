"""Input checks shared by the use cases: every refusal says which field and why."""

from __future__ import annotations

import re
from typing import Annotated

from annotated_types import Interval

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
    if len(address) > 254 or not _ADDRESS.match(address) or has_surrogates(address):
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
    valid_unicode(value, field=field)
    if len(value) > max_len:
        raise ServiceError("field_too_long", f"{field} is longer than {max_len} characters.", field=field)
    if required and not value.strip():
        raise ServiceError("field_required", f"{field} is required.", field=field)
    return value


# The databases store integers as signed 64-bit: a larger id or offset makes SQLite raise
# OverflowError (a 500) instead of simply finding nothing, so every entry point bounds them.
MIN_DB_INT = -(2**63)
MAX_DB_INT = 2**63 - 1
DbInt = Annotated[int, Interval(ge=MIN_DB_INT, le=MAX_DB_INT)]

_SURROGATE = re.compile("[\ud800-\udfff]")


def db_int(value: object, *, field: str, what: str = "a number") -> int | None:
    """An optional integer field of a request body: a JSON number (not true/false) the database can
    hold, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ServiceError("invalid_field", f"{field} must be {what}.", field=field)
    if not MIN_DB_INT <= value <= MAX_DB_INT:
        bound = f"at most {MAX_DB_INT}" if value > 0 else f"at least {MIN_DB_INT}"
        raise ServiceError("invalid_field", f"{field} must be {bound}.", field=field)
    return value


def has_surrogates(value: str) -> bool:
    return _SURROGATE.search(value) is not None


def valid_unicode(value: str, *, field: str) -> str:
    """JSON can carry lone surrogates ("\\ud800"); no database, header or password hash can store
    them, so they are refused at the door instead of failing deep inside (a 500)."""
    if has_surrogates(value):
        raise ServiceError(
            "invalid_text",
            f"{field} contains a character that is not valid Unicode (a lone surrogate); remove it.",
            field=field,
        )
    return value


def like_escape(value: str) -> str:
    """`value` for a LIKE pattern with escape="\\": % and _ typed by a user are letters, not wildcards."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
