"""Drafts and signatures on SQLite and PostgreSQL (issue 14 item 6): a save replaces the last one of
the same composer, the newest draft is the one a plain visit restores, another user's draft is not
there, another team's contact is a 404, and deleting the contact takes its drafts with it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, func, select

from inboxlink.services.crm import contacts
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import drafts, signatures
from inboxlink.storage.composer_tables import drafts as draft_rows
from inboxlink.storage.tables import contacts as contact_rows
from tests.integration import crm_backends

app = crm_backends.app  # these tests run on SQLite and on PostgreSQL


async def test_drafts_and_signatures_on_both_backends(app):
    sam = (await app.user("sam@crm.test")).caller
    lee = (await app.user("lee@crm.test")).caller
    rival = (await app.user("rival@other.test", team="other")).caller
    chris = await contacts.create_contact(app.rt, sam, {"email": "chris@prospect.test"})

    await drafts.save_draft(app.rt, sam, chris["id"], "new", {"text": "first"})
    await drafts.save_draft(app.rt, sam, chris["id"], "new", {"text": "second", "subject": "Offer"})
    await drafts.save_draft(app.rt, sam, chris["id"], "reply:7", {"text": "a reply"})
    found = await drafts.get_draft(app.rt, sam, chris["id"], "new")
    assert found is not None and found["text"] == "second" and found["subject"] == "Offer"
    newest = await drafts.get_draft(app.rt, sam, chris["id"])
    assert newest is not None and newest["context"] == "reply:7"
    async with app.rt.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(draft_rows)) == 2  # replaced, not added

    assert await drafts.get_draft(app.rt, lee, chris["id"]) is None  # a colleague sees none of mine
    with pytest.raises(NotFound):
        await drafts.save_draft(app.rt, rival, chris["id"], "new", {"text": "x"})
    with pytest.raises(ServiceError):
        await drafts.save_draft(app.rt, sam, chris["id"], "reply:abc", {"text": "x"})
    with pytest.raises(ServiceError):
        await drafts.save_draft(app.rt, sam, chris["id"], "new", {"text": "x" * 1_000_001})

    assert await drafts.delete_draft(app.rt, sam, chris["id"], "reply:7")
    assert not await drafts.delete_draft(app.rt, sam, chris["id"], "reply:7")
    async with app.rt.engine.begin() as conn:
        await conn.execute(delete(contact_rows).where(contact_rows.c.id == chris["id"]))
        assert await conn.scalar(select(func.count()).select_from(draft_rows)) == 0  # cascaded

    assert await signatures.get_signature(app.rt, sam) == ""
    assert await signatures.set_signature(app.rt, sam, "Sam\r\nAcme  ") == "Sam\nAcme"
    assert await signatures.set_signature(app.rt, sam, "Sam Seller") == "Sam Seller"
    assert await signatures.get_signature(app.rt, sam) == "Sam Seller"
    assert await signatures.get_signature(app.rt, lee) == ""
    assert await signatures.set_signature(app.rt, sam, "  \n ") == ""
    assert await signatures.get_signature(app.rt, sam) == ""


async def test_two_first_saves_of_one_composer_both_succeed(app):
    """Two tabs (or an overlapping debounce) save the same composer for the first time at once:
    both answer, and one draft remains, holding one of the two."""
    sam = (await app.user("sam@crm.test")).caller
    chris = await contacts.create_contact(app.rt, sam, {"email": "chris@prospect.test"})
    contexts = [f"reply:{n}" for n in range(1, 9)]
    for context in contexts:
        await asyncio.gather(
            drafts.save_draft(app.rt, sam, chris["id"], context, {"text": "tab one"}),
            drafts.save_draft(app.rt, sam, chris["id"], context, {"text": "tab two"}),
        )
    async with app.rt.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(draft_rows)) == len(contexts)
    for context in contexts:
        found = await drafts.get_draft(app.rt, sam, chris["id"], context)
        assert found is not None and found["text"] in ("tab one", "tab two")
