"""CSV import rows, HubSpot-style: which column is which (their export's names and the usual
variants), and one row checked into what to create, or the reason it cannot be. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from inboxlink.domain.companies import normalise_domain

CONTACT_FIELDS = ("email", "first_name", "last_name", "company", "domain", "phone")
COMPANY_FIELDS = ("name", "domain", "phone")

_ALIASES = {
    "email": {"email", "email address", "e-mail", "e-mail address", "emailaddress"},
    "first_name": {"first name", "firstname", "given name"},
    "last_name": {"last name", "lastname", "surname", "family name"},
    "name": {"name", "company name", "company", "full name"},
    "company": {"company", "company name", "associated company", "organization", "organisation"},
    "domain": {"domain", "company domain name", "company domain", "website", "website url", "website domain"},
    "phone": {"phone", "phone number", "mobile phone number", "telephone", "mobile"},
}

MAX_ROWS = 100_000
_ADDRESS = re.compile(
    r"^[^@\s\"<>(),;:\\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
_PHONE = re.compile(r"^[0-9+()./ \-x]{3,40}$")


def map_columns(header: Sequence[str], fields: Sequence[str]) -> dict[str, int]:
    """field → column index, for the fields the header names (case, spaces and _ ignored)."""
    found: dict[str, int] = {}
    for index, raw in enumerate(header):
        label = " ".join(raw.replace("_", " ").strip().lower().lstrip("\ufeff").split())
        for field in fields:
            if field not in found and label in _ALIASES.get(field, {field.replace("_", " ")}):
                found[field] = index
                break
    return found


@dataclass(frozen=True)
class ContactRow:
    email: str
    name: str
    company: str
    domain: str | None
    phone: str


@dataclass(frozen=True)
class CompanyRow:
    name: str
    domain: str | None
    phone: str


def _cell(row: Sequence[str], columns: Mapping[str, int], field: str) -> str:
    index = columns.get(field)
    return row[index].strip() if index is not None and index < len(row) else ""


def _one_line(value: str, field: str, limit: int = 200) -> str:
    if len(value) > limit or any(c in value for c in "\r\n\x00"):
        raise ValueError(f"{field} must be one line of at most {limit} characters")
    return value


def _domain(value: str) -> str | None:
    if not value:
        return None
    try:
        return normalise_domain(value)
    except ValueError as exc:
        raise ValueError(f"domain {value[:60]!r} is not a domain such as acme.com") from exc


def _phone(value: str) -> str:
    if value and not _PHONE.match(value):
        raise ValueError(f"phone {value[:40]!r} is not a phone number")
    return value


def contact_row(row: Sequence[str], columns: Mapping[str, int]) -> ContactRow:
    """ValueError says what is wrong with the row."""
    email = _cell(row, columns, "email").lower()
    if not email:
        raise ValueError("email is empty")
    if len(email) > 254 or not _ADDRESS.match(email):
        raise ValueError(f"{email[:80]!r} is not an email address")
    first = _one_line(_cell(row, columns, "first_name"), "first name", 100)
    last = _one_line(_cell(row, columns, "last_name"), "last name", 100)
    return ContactRow(
        email=email,
        name=" ".join(p for p in (first, last) if p),
        company=_one_line(_cell(row, columns, "company"), "company"),
        domain=_domain(_cell(row, columns, "domain")),
        phone=_phone(_cell(row, columns, "phone")),
    )


def company_row(row: Sequence[str], columns: Mapping[str, int]) -> CompanyRow:
    name = _one_line(_cell(row, columns, "name"), "name")
    domain = _domain(_cell(row, columns, "domain"))
    if not name and domain is None:
        raise ValueError("a company needs a name or a domain")
    return CompanyRow(name=name, domain=domain, phone=_phone(_cell(row, columns, "phone")))
