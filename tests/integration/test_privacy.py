"""Privacy over the data's life (issue 15), against the real peers: never-log lists on sends and
replies, forgetting a contact so that nothing readable stays in the data directory, retention,
the export ZIP, orphaned blob files."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from inboxlink.services.accounts.users import create_token, create_user
from inboxlink.services.crm.retention import run_retention_batch
from inboxlink.services.crm.search import search_emails
from inboxlink.services.platform.blob_sweep import sweep_orphan_blobs
from inboxlink.storage.privacy_tables import privacy_audit
from inboxlink.storage.search_tables import email_search_terms
from inboxlink.storage.tables import attachments, emails
from tests.integration.conftest import CLIENT
from tests.support import app as support
from tests.support.app import wait_for
from tests.support.flows import connect, inbound, monitor_connected, wait_sent
from tests.support.replies import make_reply
from tests.support.web import sign_in


async def admin_of(
    app: support.TestApp, user: support.TestUser, email: str = "boss@crm.test"
) -> support.TestUser:
    caller = await create_user(
        app.rt, email, "correct horse battery", name="Boss", team="default", admin=True
    )
    assert caller.team_id == user.caller.team_id
    return support.TestUser(caller, await create_token(app.rt, email), app.client)


async def data_dir_holds(app: support.TestApp, *markers: bytes) -> list[tuple[bytes, Path]]:
    """Every (marker, file) where a marker is readable anywhere in the data directory, read while
    the app runs (its connections open: closing the last one would checkpoint the WAL for us)."""
    found = []
    for path in app.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            found.extend((m, path) for m in markers if m in content)
    return found


async def index_rows(app: support.TestApp, email_ids: list[int]) -> int:
    async with app.rt.engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(email_search_terms)
                .where(email_search_terms.c.email_id.in_(email_ids))
            )
            or 0
        )


async def feed_text(user: support.TestUser) -> str:
    """The whole events feed as one string (each event carries the email object)."""
    items, after = [], None
    while True:
        page = (await user.get("/api/v1/events", params={"after": after} if after else {})).json()
        items += page["items"]
        if not page["has_more"]:
            return json.dumps(items)
        after = page["next_cursor"]


async def contact_id_of(user: support.TestUser, address: str) -> int | None:
    items = (await user.get("/api/v1/contacts", params={"email": address})).json()["items"]
    return items[0]["id"] if items else None


async def test_never_logged_recipient_gets_the_mail_but_no_contact_and_its_reply_leaves_no_byte(
    app, mail_server, provider_smtp, mail_user
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    listed, other = "listed@blocked.test", "pat@partner.test"
    resp = await user.post("/api/v1/never-log", {"value": "Listed@Blocked.test", "scope": "me"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["value"] == listed and resp.json()["scope"] == "me"
    before = len(provider_smtp.received)
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": listed}, {"email": other}],
            "subject": "Terms",
            "text": "t",
        },
    )
    sent = await wait_sent(user, resp.json()["id"])
    assert sent["status"] == "sent"
    # The mail went out to both ...
    assert any(listed in rcpts for _f, rcpts, _d in provider_smtp.received[before:])
    # ... but only the other recipient is a contact with it on their record.
    assert await contact_id_of(user, listed) is None
    pat = await contact_id_of(user, other)
    assert sent["contact_ids"] == [pat]
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    marker = "NEVERLOG-MARKER-7f3a91"
    listed_reply, raw = make_reply(
        sender=listed, to=mail_user.email, subject=f"Re: Terms {marker}", text=f"secret {marker}",
        in_reply_to=sent["message_id"], attachments=[(f"{marker}.txt", "text/plain", marker.encode() * 3)],
    )  # fmt: skip
    mail_server.deliver(mail_user.email, raw)
    other_reply, raw = make_reply(
        sender=other,
        to=mail_user.email,
        subject="Re: Terms",
        text="fine by me",
        in_reply_to=sent["message_id"],
    )
    mail_server.deliver(mail_user.email, raw)
    [logged] = await inbound(user, pat)
    assert logged["message_id"] == other_reply and logged["thread_id"] == sent["thread_id"]
    async with app.rt.engine.connect() as conn:
        assert await conn.scalar(select(emails.c.id).where(emails.c.message_id == listed_reply)) is None
    assert await contact_id_of(user, listed) is None
    assert await data_dir_holds(app, marker.encode(), listed_reply.encode()) == []


async def test_team_never_log_domain_covers_subdomains_and_needs_an_admin(
    app, mail_server, provider_smtp, mail_user
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    resp = await user.post("/api/v1/never-log", {"value": "rival.test", "scope": "team"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "admin_required"
    boss = await admin_of(app, user)
    resp = await boss.post("/api/v1/never-log", {"value": "rival.test", "scope": "team"})
    assert resp.status_code == 201, resp.text
    entry = resp.json()
    assert entry["scope"] == "team"
    assert entry["id"] in [e["id"] for e in (await user.get("/api/v1/never-log")).json()["items"]]
    assert (await user.delete(f"/api/v1/never-log/{entry['id']}")).status_code == 403
    bad = await boss.post("/api/v1/never-log", {"value": "not a domain", "scope": "team"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "value"
    before = len(provider_smtp.received)
    resp = await user.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": [{"email": "x@sub.rival.test"}], "subject": "Hello", "text": "t"},
    )
    email_id = resp.json()["id"]
    assert resp.json()["contact_ids"] == []
    # Sent to them only: it goes out and is then logged nowhere.
    await wait_for(lambda: _gone(user, email_id), timeout=30)
    assert any("x@sub.rival.test" in rcpts for _f, rcpts, _d in provider_smtp.received[before:])
    assert await contact_id_of(user, "x@sub.rival.test") is None
    assert (await boss.delete(f"/api/v1/never-log/{entry['id']}")).status_code == 204
    assert (await boss.delete(f"/api/v1/never-log/{entry['id']}")).status_code == 404


async def _gone(user: support.TestUser, email_id: int) -> bool:
    return (await user.get(f"/api/v1/emails/{email_id}")).status_code == 404


async def test_forgetting_a_contact_leaves_nothing_readable_and_keeps_shared_mail(
    app, conversation, mail_server, mail_user
):
    user, _inbox, sent = conversation
    chris = sent["contact_ids"][0]
    subject_marker, file_marker, bytes_marker = "SUBJ-5c1e0b", "FILE-a83d22", b"ATTBYTES-9be1f4" * 50
    _id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject=f"Re: Our offer {subject_marker}", text="see attached",
        in_reply_to=sent["message_id"], attachments=[(f"{file_marker}.bin", "application/octet-stream", bytes_marker)],
    )  # fmt: skip
    mail_server.deliver(mail_user.email, raw)
    shared_id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, cc="dana@prospect.test", subject="Re: Our offer, with Dana",
        text="looping in Dana", in_reply_to=sent["message_id"],
    )  # fmt: skip
    mail_server.deliver(mail_user.email, raw)
    await inbound(user, chris, count=2)
    dana = await contact_id_of(user, "dana@prospect.test")
    assert dana is not None
    chris_emails = [e["id"] for e in (await user.get(f"/api/v1/contacts/{chris}/emails")).json()["items"]]
    assert await index_rows(app, chris_emails) > 0  # the search index has their words (hashed)
    blobs = [p for p in (app.data_dir / "attachments").rglob("*") if p.is_file()]
    assert blobs
    assert (await user.delete(f"/api/v1/contacts/{chris}?forget=true")).status_code == 403
    boss = await admin_of(app, user)
    assert (await boss.delete(f"/api/v1/contacts/{chris}")).status_code == 422  # forget=true is required
    assert subject_marker in await feed_text(boss)  # the reply's email.logged event
    assert len(await search_emails(app.rt, boss.caller.team_id, "5c1e0b")) == 1  # by its subject
    assert (await boss.delete(f"/api/v1/contacts/{chris}?forget=true")).status_code == 204
    # Nor do the events (the feed, webhook payloads) keep the forgotten person's mail or address.
    feed = await feed_text(boss)
    assert subject_marker not in feed and CLIENT not in feed, feed
    assert (await boss.get(f"/api/v1/contacts/{chris}")).status_code == 404
    assert (await boss.get(f"/api/v1/emails/{sent['id']}")).status_code == 404
    # The shared email stays for Dana, without Chris's address.
    [kept] = (await boss.get(f"/api/v1/contacts/{dana}/emails")).json()["items"]
    assert kept["message_id"] == shared_id
    assert kept["from"] == {"email": "", "name": "forgotten contact"}
    assert kept["contact_ids"] == [dana]
    # The search index rows of the deleted emails went with them; the kept email keeps its own.
    assert await index_rows(app, [i for i in chris_emails if i != kept["id"]]) == 0
    assert await index_rows(app, [kept["id"]]) > 0
    assert await search_emails(app.rt, boss.caller.team_id, "5c1e0b") == []
    assert CLIENT in [e["value"] for e in (await boss.get("/api/v1/never-log")).json()["items"]]
    assert not any(p.exists() for p in blobs)
    async with app.rt.engine.connect() as conn:
        [audit] = (await conn.execute(select(privacy_audit))).all()
    assert audit.actor == "boss@crm.test" and CLIENT not in json.dumps([*audit], default=str), audit
    assert await data_dir_holds(app, subject_marker.encode(), file_marker.encode(), bytes_marker[:30]) == []
    async with app.rt.engine.connect() as conn:  # freed pages are zeroed, whatever SQLite's build default
        assert (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar() == 1
    # A new mail from the forgotten person is not logged (the address is on the team's list).
    later_id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: again", text="x", in_reply_to=shared_id
    )
    mail_server.deliver(mail_user.email, raw)
    marker_id, raw = make_reply(
        sender="dana@prospect.test", to=mail_user.email, subject="Re: dana", text="y", in_reply_to=shared_id
    )
    mail_server.deliver(mail_user.email, raw)
    found = await inbound(boss, dana, count=2)
    assert marker_id in [e["message_id"] for e in found] and later_id not in [e["message_id"] for e in found]
    assert await contact_id_of(boss, CLIENT) is None


async def test_retention_deletes_exactly_the_old_emails(app, conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    chris = sent["contact_ids"][0]
    ids = []
    for i in range(4):
        _id, raw = make_reply(
            sender=CLIENT, to=mail_user.email, subject=f"Re: Our offer {i}", text=f"r{i}",
            in_reply_to=sent["message_id"], attachments=[(f"f{i}.txt", "text/plain", b"x" * (100 + i))],
        )  # fmt: skip
        mail_server.deliver(mail_user.email, raw)
        ids.append(_id)
    found = await inbound(user, chris, count=4)
    by_mid = {e["message_id"]: e["id"] for e in found}
    old = [by_mid[ids[0]], by_mid[ids[2]]]
    stamp = datetime.now(UTC) - timedelta(days=40)
    async with app.rt.engine.begin() as conn:
        await conn.execute(update(emails).where(emails.c.id.in_(old)).values(sent_at=stamp, created_at=stamp))
        old_blobs = [
            r.blob
            for r in await conn.execute(select(attachments.c.blob).where(attachments.c.email_id.in_(old)))
        ]
    boss = await admin_of(app, user)
    assert (await boss.get("/api/v1/privacy")).json() == {"internal_domains": [], "retention_days": None}
    preview = (await boss.get("/api/v1/privacy/retention-preview", params={"days": 30})).json()
    assert preview == {"days": 30, "emails": 2, "attachments": 2, "bytes": 100 + 102}
    assert await run_retention_batch(app.rt, boss.caller.team_id) == 0  # off by default
    assert (await user.put("/api/v1/privacy", {"retention_days": 30})).status_code == 403
    resp = await boss.put("/api/v1/privacy", {"retention_days": 30})
    assert resp.status_code == 200 and resp.json()["retention_days"] == 30
    deleted = 0
    while n := await run_retention_batch(app.rt, boss.caller.team_id, batch=1):
        assert n == 1
        deleted += n
    assert deleted == 2
    assert await index_rows(app, old) == 0  # their search index rows went with them
    left = {e["id"] for e in (await user.get(f"/api/v1/contacts/{chris}/emails")).json()["items"]}
    assert left == ({sent["id"], *by_mid.values()} - set(old))
    assert not any(app.rt.blobs._path(b).exists() for b in old_blobs)


async def test_export_zip_holds_every_email_and_file_byte_exact(app, conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    chris = sent["contact_ids"][0]
    files = {
        "all-bytes.bin": bytes(range(256)) * 40,
        "notes.txt": b"line 1\r\nline 2\n",
        "empty-ish.dat": b"\x00",
    }
    _id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: Our offer", text="files", in_reply_to=sent["message_id"],
        attachments=[(n, "application/octet-stream", d) for n, d in files.items()],
    )  # fmt: skip
    mail_server.deliver(mail_user.email, raw)
    await inbound(user, chris)
    resp = await user.get(f"/api/v1/contacts/{chris}/export")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(resp.content))
    assert archive.testzip() is None
    data = json.loads(archive.read("data.json"))
    assert data["contact"]["email"] == CLIENT
    timeline = (await user.get(f"/api/v1/contacts/{chris}/emails")).json()["items"]
    assert sorted(e["id"] for e in data["emails"]) == sorted(e["id"] for e in timeline)
    reply = next(e for e in data["emails"] if e["message_id"] == _id)
    assert reply["text"].strip() == "files" and reply["in_reply_to"] == sent["message_id"]
    # attachments/<email id>/<attachment id>-<name>
    stored = {
        n.split("/", 2)[2].split("-", 1)[1]: archive.read(n)
        for n in archive.namelist()
        if n.startswith("attachments/")
    }
    assert stored == files
    assert (await user.get("/api/v1/contacts/999999/export")).status_code == 404


async def test_orphaned_blob_files_are_swept_after_an_hour(app, conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    _id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: Our offer", text="f", in_reply_to=sent["message_id"],
        attachments=[("kept.txt", "text/plain", b"kept")],
    )  # fmt: skip
    mail_server.deliver(mail_user.email, raw)
    await inbound(user, sent["contact_ids"][0])
    referenced = [p for p in (app.data_dir / "attachments").rglob("*") if p.is_file()]
    old_orphan = app.rt.blobs._path(app.rt.blobs.put(b"rolled back"))
    new_orphan = app.rt.blobs._path(app.rt.blobs.put(b"transaction still open"))
    two_hours_ago = time.time() - 7200
    for path in (*referenced, old_orphan):
        os.utime(path, (two_hours_ago, two_hours_ago))
    assert await sweep_orphan_blobs(app.rt) == 1
    assert not old_orphan.exists() and new_orphan.exists() and all(p.exists() for p in referenced)
    files = (await user.get(f"/api/v1/contacts/{sent['contact_ids'][0]}/attachments")).json()["items"]
    assert (await user.get(f"/api/v1/attachments/{files[0]['id']}")).content == b"kept"


async def test_bcc_logged_mail_skips_never_logged_people_and_internal_mail(
    app, mail_server, provider_smtp, mail_user
):
    from tests.integration.test_bcc import bcc_address, emails_of, listening, message, no_contact, send

    user, _inbox = await connect(app, mail_server, provider_smtp, mail_user)
    assert (await user.post("/api/v1/never-log", {"value": "blocked.test"})).status_code == 201
    own_domain = mail_user.email.rpartition("@")[2]
    boss = await admin_of(app, user)
    resp = await boss.put("/api/v1/privacy", {"internal_domains": [own_domain]})
    assert resp.json()["internal_domains"] == [own_domain]
    async with listening(app.rt) as listener:
        only_listed = message(
            mail_user.email, "x@sub.blocked.test", "BCC-NL-marker-1", "secret BCC-NL-marker-1"
        )
        await send(listener, mail_user.email, [bcc_address(user)], only_listed)
        internal = message(
            mail_user.email, f"colleague@{own_domain}", "BCC-NL-marker-2", "internal BCC-NL-marker-2"
        )
        await send(listener, mail_user.email, [bcc_address(user)], internal)
        both = message(mail_user.email, f"x@sub.blocked.test, {CLIENT}", "Both", "to both")
        await send(listener, mail_user.email, [bcc_address(user)], both)
        [logged] = await wait_for(lambda: emails_of(user, CLIENT))
    assert logged["subject"] == "Both"
    assert await no_contact(user, "x@sub.blocked.test") and await no_contact(user, f"colleague@{own_domain}")
    async with app.rt.engine.connect() as conn:
        subjects = (await conn.execute(select(emails.c.subject))).scalars().all()
    assert subjects == ["Both"]
    assert await data_dir_holds(app, b"BCC-NL-marker") == []


async def test_privacy_settings_page_adds_entries_previews_retention_and_forgets(app, conversation):
    import re

    import httpx

    from tests.support.web import served

    user, _inbox, sent = conversation
    boss = await admin_of(app, user)
    async with served(app) as base, httpx.AsyncClient(base_url=base) as browser:
        await sign_in(browser, boss.caller.email)
        page = await browser.get("/settings/privacy")
        assert page.status_code == 200 and "Never log" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        resp = await browser.post(
            "/settings/privacy/never-log", data={"value": "Rival.test", "scope": "team", "csrf_token": csrf}
        )
        assert resp.status_code == 303
        assert "rival.test" in [e["value"] for e in (await user.get("/api/v1/never-log")).json()["items"]]
        page = await browser.get("/settings/privacy", params={"preview_days": "1"})
        assert "would delete 0 email(s)" in page.text
        resp = await browser.post(
            "/settings/privacy/team", data={"retention_days": "abc", "csrf_token": csrf}
        )
        assert resp.status_code == 422 and "retention_days" in resp.text
        resp = await browser.post(
            "/settings/privacy/forget", data={"email": CLIENT, "confirm": "yes", "csrf_token": csrf}
        )
        assert resp.status_code == 303
    assert (await user.get(f"/api/v1/contacts/{sent['contact_ids'][0]}")).status_code == 404
