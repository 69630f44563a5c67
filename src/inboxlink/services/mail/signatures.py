"""Each user's email signature (issue 14 item 6): plain text, sealed at rest like mail bodies,
edited on the settings page and put into a new composer under a "-- " line (the signature
delimiter mail clients recognise)."""

from __future__ import annotations

from sqlalchemy import delete, select

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.timeline import seal, unseal
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.services.validation import valid_unicode
from inboxlink.storage.composer_tables import signatures

MAX_SIGNATURE = 2000  # characters; a signature, not a letter
DELIMITER = "-- "  # RFC 3676 §4.3: "-- " alone on a line starts the signature


async def get_signature(rt: Runtime, caller: Caller) -> str:
    """The caller's signature ("" when none is set)."""
    async with rt.engine.connect() as conn:
        stored = await conn.scalar(select(signatures.c.text).where(signatures.c.user_id == caller.user_id))
    return unseal(rt, stored) or ""


async def set_signature(rt: Runtime, caller: Caller, text: object) -> str:
    """Save (or, when empty, remove) the caller's signature; returns what was kept."""
    if not isinstance(text, str):
        raise ServiceError("invalid_field", "The signature must be text.", field="signature")
    valid_unicode(text, field="signature")
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")
    if len(text) > MAX_SIGNATURE:
        raise ServiceError(
            "invalid_field",
            f"The signature is {len(text):,} characters long; keep it under {MAX_SIGNATURE:,}.",
            field="signature",
        )
    async with rt.engine.begin() as conn:
        await conn.execute(delete(signatures).where(signatures.c.user_id == caller.user_id))
        if text.strip():
            await conn.execute(
                signatures.insert().values(user_id=caller.user_id, text=seal(rt, text), updated_at=now())
            )
    return text if text.strip() else ""


def signed(text: str, signature: str) -> str:
    """A new composer's starting text: an empty line to write on, then the delimited signature."""
    return f"{text}\n\n{DELIMITER}\n{signature}" if signature.strip() else text
