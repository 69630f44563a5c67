"""A person's data as a ZIP (GDPR access request), streamed: `data.json` (the contact with its
profile and phone, their sequence enrolments with each one's history, and every email logged on
them: headers, text, html, attachment list) and `attachments/<email id>/<id>-<name>`
with the bytes as received. The ZIP is written to a sink that hands over what it holds after each
piece, so memory stays at one batch of emails or one attachment, whatever the number of emails."""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from inboxlink.mime import safe_filename
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.contact_edit import profile
from inboxlink.services.crm.contacts import get_contact_row
from inboxlink.services.crm.enrolment_views import contact_enrolment_views
from inboxlink.services.crm.timeline import email_views
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.tables import attachments, email_contacts, emails

BATCH = 200


class _Sink:
    """A write-only, unseekable file for zipfile: it then writes data descriptors and never seeks."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _email_export(view: dict[str, object], row: Any) -> dict[str, object]:
    return {
        **view,
        "in_reply_to": row.in_reply_to,
        "references": row.references,
        "dedupe_key": row.dedupe_key,
    }


async def export_contact(rt: Runtime, caller: Caller, contact_id: int) -> tuple[str, AsyncIterator[bytes]]:
    """(file name, the ZIP's bytes in pieces). 404 before anything is streamed."""
    contact = await get_contact_row(rt, caller, contact_id)
    # The whole person: the profile (first/last name, job title, owner, lifecycle stage, phone)
    # beside the contact's own fields, not only what the contact list shows.
    person = await profile(rt, caller, contact.id)
    return f"contact-{contact.id}-export.zip", _stream(rt, caller.team_id, contact, person)


async def _stream(rt: Runtime, team_id: int, contact: Any, person: dict[str, object]) -> AsyncIterator[bytes]:
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)  # type: ignore[call-overload]
    async with rt.engine.connect() as conn:
        enrolments = await contact_enrolment_views(conn, team_id, contact.id)
        ids = [
            r.email_id
            for r in await conn.execute(
                select(email_contacts.c.email_id)
                .where(email_contacts.c.contact_id == contact.id)
                .order_by(email_contacts.c.email_id)
            )
        ]
    files: list[Any] = []
    with archive.open("data.json", "w", force_zip64=True) as out:
        out.write(b'{"contact": ' + json.dumps(person, default=str).encode())
        out.write(b', "enrolments": ' + json.dumps(enrolments, default=str).encode() + b', "emails": [')
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            async with rt.engine.connect() as conn:
                views = await email_views(rt, conn, team_id, chunk)
                rows = {
                    r.id: r
                    for r in await conn.execute(
                        select(
                            emails.c.id, emails.c.in_reply_to, emails.c.references, emails.c.dedupe_key
                        ).where(emails.c.id.in_(chunk))
                    )
                }
                files.extend(
                    await conn.execute(
                        select(
                            attachments.c.id,
                            attachments.c.email_id,
                            attachments.c.filename,
                            attachments.c.blob,
                        )
                        .where(attachments.c.email_id.in_(chunk), attachments.c.blob.is_not(None))
                        .order_by(attachments.c.id)
                    )
                )
            for index, view in enumerate(views):
                comma = b", " if start or index else b""
                out.write(
                    comma + json.dumps(_email_export(view, rows[int(str(view["id"]))]), default=str).encode()
                )
            yield sink.take()
        out.write(b"]}")
    yield sink.take()
    for f in files:
        name = f"attachments/{f.email_id}/{f.id}-{safe_filename(f.filename) or 'attachment'}"
        with archive.open(name, "w", force_zip64=True) as out:
            # A chunk at a time (database blobs): the archive never holds a whole attachment either.
            async for piece in rt.attachment_store.chunks(f.blob):
                out.write(piece)
                yield sink.take()
        yield sink.take()
    archive.close()
    yield sink.take()
