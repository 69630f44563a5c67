"""CSV import and export of contacts and companies (HubSpot-style columns: email, first name, last
name, company, domain, phone). An import checks every row first: bad rows are reported with their
line number and the rest is imported, in one transaction, with bulk statements (10,000 rows in
seconds: bench/csv_import.py). Addresses that are contacts already are left as they are."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.companies import (
    address_domain,
    company_domain_for,
    name_from_domain,
    new_company_domain,
)
from inboxlink.domain.csv_rows import (
    COMPANY_FIELDS,
    CONTACT_FIELDS,
    MAX_ROWS,
    CompanyRow,
    ContactRow,
    company_row,
    contact_row,
    map_columns,
)
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.company_links import create_company_row, known_domains
from inboxlink.services.crm.never_log import NEVER_LOGGED, rules_for
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.crm_tables import companies, company_domains, contact_companies, contact_extras
from inboxlink.storage.tables import contacts

CHUNK = 500  # rows per statement: far below every database's bound-parameter limit
PREVIEW_ROWS = 20


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _read(
    text: str, fields: Sequence[str], required: Sequence[str]
) -> tuple[list[str], dict[str, int], list[tuple[int, list[str]]]]:
    if "\x00" in text:
        raise ServiceError("invalid_csv", "This is not a CSV file (it contains NUL bytes).", field="csv")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, [])
        rows: list[tuple[int, list[str]]] = []
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise ServiceError("too_many_rows", f"At most {MAX_ROWS:,} rows per import.", field="csv")
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise ServiceError("invalid_csv", f"The CSV cannot be read: {exc}.", field="csv") from exc
    columns = map_columns(header, fields)
    if not any(r in columns for r in required):
        wanted = " or ".join(f"“{r}”" for r in required)
        raise ServiceError(
            "invalid_csv", f"The first line must name the columns; none of them is {wanted}.", field="csv"
        )
    return header, columns, rows


async def _existing(conn: AsyncConnection, team_id: int, emails: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in _chunks(emails):
        rows = await conn.execute(
            select(contacts.c.email).where(contacts.c.team_id == team_id, contacts.c.email.in_(list(part)))
        )
        found.update(r.email for r in rows)
    return found


def _checked_contacts(
    rows: list[tuple[int, list[str]]], columns: dict[str, int], never_logged: Callable[[str], bool]
) -> tuple[list[ContactRow], list[dict[str, object]]]:
    good: list[ContactRow] = []
    errors: list[dict[str, object]] = []
    first_seen: dict[str, int] = {}
    for line, row in rows:
        try:
            parsed = contact_row(row, columns)
        except ValueError as exc:
            errors.append({"row": line, "message": str(exc)})
            continue
        if never_logged(parsed.email):
            # A re-imported old file must not bring back a person on a never-log list (or forgotten).
            errors.append({"row": line, "code": "never_logged", "message": f"{parsed.email}: {NEVER_LOGGED}"})
            continue
        if parsed.email in first_seen:
            errors.append(
                {"row": line, "message": f"{parsed.email} is already on row {first_seen[parsed.email]}"}
            )
            continue
        first_seen[parsed.email] = line
        good.append(parsed)
    return good, errors


async def import_contacts(
    rt: Runtime, caller: Caller, text: str, *, dry_run: bool = False
) -> dict[str, object]:
    header, columns, rows = _read(text, CONTACT_FIELDS, ["email"])
    async with rt.engine.connect() as conn:
        rules = await rules_for(conn, caller.team_id, caller.user_id)
    good, errors = _checked_contacts(rows, columns, rules.listed)
    result: dict[str, object] = {
        "kind": "contacts",
        "columns": {field: header[i] for field, i in columns.items()},
        "rows": len(rows),
        "errors": errors,
        "preview": [vars(r) for r in good[:PREVIEW_ROWS]],
        "dry_run": dry_run,
    }
    async with rt.engine.begin() as conn:
        existing = await _existing(conn, caller.team_id, [r.email for r in good])
        new = [r for r in good if r.email not in existing]
        result.update(existing=len(existing), imported=0 if dry_run else len(new), importable=len(new))
        if dry_run or not new:
            return result
        stamp = now()
        for part in _chunks(new):
            await conn.execute(
                contacts.insert(),
                [
                    {
                        "team_id": caller.team_id,
                        "email": r.email,
                        "name": r.name,
                        "company": r.company,
                        "created_at": stamp,
                    }
                    for r in part
                ],
            )
        ids: dict[str, int] = {}
        for part in _chunks([r.email for r in new]):
            rows_ = await conn.execute(
                select(contacts.c.email, contacts.c.id).where(
                    contacts.c.team_id == caller.team_id, contacts.c.email.in_(list(part))
                )
            )
            ids.update({r.email: r.id for r in rows_})
        links = await _companies_for(conn, caller.team_id, new)
        pairs = [{"contact_id": ids[e], "company_id": c} for e, c in links.items()]
        for part in _chunks(pairs):
            await conn.execute(contact_companies.insert(), list(part))
        phones = [{"contact_id": ids[r.email], "phone": r.phone} for r in new if r.phone]
        for part in _chunks(phones):
            await conn.execute(contact_extras.insert(), list(part))
    return result


async def _companies_for(conn: AsyncConnection, team_id: int, rows: Sequence[ContactRow]) -> dict[str, int]:
    """company id by contact address: the row's domain column, else the address's business domain
    (created with the row's company name when new), else the company of that name. The companies
    that do not exist yet are made in bulk (one INSERT per CHUNK), not one by one."""
    place: dict[str, tuple[str, str]] = {}  # address → ("domain", full domain) | ("name", lower name)
    for r in rows:
        full = r.domain or address_domain(r.email)
        if full is not None and new_company_domain(full) is not None:
            place[r.email] = ("domain", full)
        elif r.company:
            place[r.email] = ("name", r.company.lower())
    domains = sorted({v for k, v in place.values() if k == "domain"})
    known: dict[str, int] = {}
    for part in _chunks(domains):
        known.update(await known_domains(conn, team_id, part))
    by_name: dict[str, int] = {}
    for found in await conn.execute(
        select(companies.c.id, companies.c.name)
        .where(companies.c.team_id == team_id)
        .order_by(companies.c.id.desc())
    ):
        by_name[found.name.lower()] = found.id  # the oldest of a name wins (iterated last)
    to_make: dict[str | None, dict[str, str]] = {}  # root domain (None: by name) → {key: name}
    for r in rows:
        kind, value = place.get(r.email, ("", ""))
        if kind == "domain" and company_domain_for(value, known) is None:
            root = new_company_domain(value) or value
            to_make.setdefault(root, {root: r.company or name_from_domain(root)})
        elif kind == "name" and value not in by_name:
            to_make.setdefault(None, {}).setdefault(value, r.company)
    await _make_companies(conn, team_id, to_make, known, by_name)
    out: dict[str, int] = {}
    for email, (kind, value) in place.items():
        if kind == "domain":
            match = company_domain_for(value, known)
            if match is not None:
                out[email] = known[match]
        elif value in by_name:
            out[email] = by_name[value]
    return out


async def _make_companies(
    conn: AsyncConnection,
    team_id: int,
    to_make: dict[str | None, dict[str, str]],
    known: dict[str, int],
    by_name: dict[str, int],
) -> None:
    """Insert the missing companies in bulk; fills `known` (domain → id) and `by_name`. A domain
    claimed meanwhile by a concurrent writer keeps that writer's company (ours is removed)."""
    stamp = now()
    with_domain = [(root, names[root]) for root, names in to_make.items() if root is not None]
    for part in _chunks(with_domain):
        made = await conn.execute(
            companies.insert().returning(companies.c.id, companies.c.domain),
            [
                {"team_id": team_id, "name": n[:200], "domain": d, "created_at": stamp, "updated_at": stamp}
                for d, n in part
            ],
        )
        ids = {m.domain: m.id for m in made}
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(
            insert(company_domains)
            .values([{"team_id": team_id, "domain": d, "company_id": i} for d, i in ids.items()])
            .on_conflict_do_nothing(index_elements=["team_id", "domain"])
        )
        winners = await known_domains(conn, team_id, list(ids))
        losers = [i for d, i in ids.items() if winners.get(d) != i]
        if losers:
            await conn.execute(companies.delete().where(companies.c.id.in_(losers)))
        known.update({d: winners[d] for d in ids if d in winners})
    by_names = list((to_make.get(None) or {}).items())
    for part in _chunks(by_names):
        made = await conn.execute(
            companies.insert().returning(companies.c.id, companies.c.name),
            [
                {
                    "team_id": team_id,
                    "name": n[:200],
                    "domain": None,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for _k, n in part
            ],
        )
        by_name.update({m.name.lower(): m.id for m in made})


async def import_companies(
    rt: Runtime, caller: Caller, text: str, *, dry_run: bool = False
) -> dict[str, object]:
    header, columns, rows = _read(text, COMPANY_FIELDS, ["name", "domain"])
    good: list[tuple[int, CompanyRow]] = []
    errors: list[dict[str, object]] = []
    for line, row in rows:
        try:
            good.append((line, company_row(row, columns)))
        except ValueError as exc:
            errors.append({"row": line, "message": str(exc)})
    imported = existing = 0
    async with rt.engine.begin() as conn:
        taken: dict[str, int] = {}
        for part in _chunks(sorted({r.domain for _l, r in good if r.domain})):
            found = await conn.execute(
                select(company_domains.c.domain, company_domains.c.company_id).where(
                    company_domains.c.team_id == caller.team_id, company_domains.c.domain.in_(list(part))
                )
            )
            taken.update({f.domain: f.company_id for f in found})
        names = {
            n.lower()
            for n in (
                await conn.execute(select(companies.c.name).where(companies.c.team_id == caller.team_id))
            ).scalars()
        }
        for _line, r in good:
            if (r.domain and r.domain in taken) or (not r.domain and r.name.lower() in names):
                existing += 1
                continue
            imported += 1
            if dry_run:
                continue
            made = await create_company_row(
                conn, caller.team_id, r.name or name_from_domain(r.domain or ""), r.domain
            )
            if r.domain and made is not None:
                taken[r.domain] = made
            names.add(r.name.lower())
    return {
        "kind": "companies",
        "columns": {field: header[i] for field, i in columns.items()},
        "rows": len(rows),
        "errors": errors,
        "preview": [vars(r) for _l, r in good[:PREVIEW_ROWS]],
        "dry_run": dry_run,
        "existing": existing,
        "importable": imported,
        "imported": 0 if dry_run else imported,
    }


_NUMBER = re.compile(r"[+-]?[0-9 ()./-]+")


def _cell(value: object) -> object:
    """A cell starting with = + - @ is a formula to a spreadsheet: prefixed with ' (CSV injection),
    unless it is a plain number or phone number (+1 555 0100 stays as it is)."""
    if isinstance(value, str) and value[:1] in "=+-@\t\r" and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(c) for c in row] for row in rows])
    return out.getvalue()


async def export_contacts(rt: Runtime, caller: Caller) -> str:
    query = (
        select(
            contacts.c.email,
            contacts.c.name,
            contacts.c.company,
            companies.c.name.label("company_name"),
            companies.c.domain,
            contact_extras.c.phone,
        )
        .select_from(contacts)
        .outerjoin(contact_companies, contact_companies.c.contact_id == contacts.c.id)
        .outerjoin(companies, companies.c.id == contact_companies.c.company_id)
        .outerjoin(contact_extras, contact_extras.c.contact_id == contacts.c.id)
        .where(contacts.c.team_id == caller.team_id)
        .order_by(contacts.c.id)
    )
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    out = []
    for r in rows:
        first, _, last = (r.name or "").partition(" ")
        out.append([r.email, first, last, r.company_name or r.company, r.domain or "", r.phone or ""])
    return _csv(
        ["Email", "First Name", "Last Name", "Company Name", "Company Domain Name", "Phone Number"], out
    )


async def export_companies(rt: Runtime, caller: Caller) -> str:
    query = (
        select(companies.c.name, companies.c.domain, func.count(contact_companies.c.contact_id).label("n"))
        .select_from(companies)
        .outerjoin(contact_companies, contact_companies.c.company_id == companies.c.id)
        .where(companies.c.team_id == caller.team_id)
        .group_by(companies.c.id, companies.c.name, companies.c.domain)
        .order_by(companies.c.id)
    )
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return _csv(["Name", "Company Domain Name", "Contacts"], [[r.name, r.domain or "", r.n] for r in rows])
