"""Issue 14 over the API, on SQLite and PostgreSQL: unread replies per user and the Replies list,
editing a contact's profile, merging a duplicate (every email and attachment kept), contacts sorted
by activity, deleting only what loses nothing, and another team's objects are 404s."""

from __future__ import annotations

from typing import Any

from inboxlink.domain.models import Address
from inboxlink.services.crm import contact_edit
from inboxlink.services.crm.timeline import NewEmail, store_email
from inboxlink.services.errors import ServiceError
from tests.integration import crm_backends

app = crm_backends.app


async def _log(app: Any, user: Any, sender: str, subject: str, text: str, *, to: str = "") -> int:
    async with app.rt.engine.begin() as conn:
        return await store_email(
            app.rt,
            conn,
            NewEmail(
                team_id=user.caller.team_id,
                direction="inbound" if not to else "outbound",
                status="logged",
                source="imap",
                message_id=f"{subject}-{sender}@x.test",
                dedupe_key=f"{subject}-{sender}@x.test",
                sender=Address(sender),
                to=[Address(to)] if to else [],
                cc=[],
                subject=subject,
                text=text,
                html=None,
                sent_at=None,
            ),
        )


async def test_unread_replies_per_user_and_the_replies_list(app):
    sam = await app.user("sam@crm.test")
    kim = await app.user("kim@crm.test", name="Kim")
    rival = await app.user("rival@other.test", team="other")
    first = await _log(app, sam, "ann@gmail.com", "Re: offer", "Yes please.\n\nOn Mon, Sam wrote:\n> offer\n")
    second = await _log(app, sam, "bo@gmail.com", "Re: call", "Friday?")
    await _log(app, sam, "sam@crm.test", "Sent by us", "x", to="ann@gmail.com")  # outbound: not a reply

    assert (await sam.get("/api/v1/replies/unread-count")).json() == {"unread": 2}
    listed = (await sam.get("/api/v1/replies")).json()
    assert listed["total"] == 2
    assert [i["email_id"] for i in listed["items"]] == [second, first]  # newest first
    ann = listed["items"][1]
    assert ann["snippet"] == "Yes please." and ann["unread"] is True
    assert ann["contact"]["email"] == "ann@gmail.com" and ann["from"]["email"] == "ann@gmail.com"

    # Sam reads the older one: it goes after the unread one; Kim's state is her own.
    read = await sam.put(f"/api/v1/emails/{first}/read", {})
    assert read.status_code == 200 and read.json() == {"email_id": first, "unread": False}
    assert (await sam.get("/api/v1/replies/unread-count")).json() == {"unread": 1}
    assert (await kim.get("/api/v1/replies/unread-count")).json() == {"unread": 2}
    assert [i["unread"] for i in (await sam.get("/api/v1/replies")).json()["items"]] == [True, False]
    only = (await sam.get("/api/v1/replies", params={"unread": "true"})).json()
    assert [i["email_id"] for i in only["items"]] == [second] and only["total"] == 1
    # Unread again, on request.
    assert (await sam.put(f"/api/v1/emails/{first}/read", {"unread": True})).json()["unread"] is True
    assert (await sam.get("/api/v1/replies/unread-count")).json() == {"unread": 2}

    # Another team: nothing to see, and its read marks are 404s.
    assert (await rival.get("/api/v1/replies")).json() == {"items": [], "total": 0}
    other = await rival.put(f"/api/v1/emails/{first}/read", {})
    assert other.status_code == 404 and other.json()["error"]["code"] == "email_not_found"
    bad = await sam.get("/api/v1/replies", params={"limit": "0"})
    assert bad.status_code == 422 and "error" in bad.json()

    # The contacts list says who replied last, and sorts by it.
    by_reply = (await sam.get("/api/v1/contacts", params={"sort": "replied"})).json()["items"]
    assert [c["email"] for c in by_reply][:2] == ["bo@gmail.com", "ann@gmail.com"]
    assert by_reply[0]["last_reply_at"] is not None and by_reply[0]["last_activity_at"] is not None
    wrong = await sam.get("/api/v1/contacts", params={"sort": "shoe size"})
    assert wrong.status_code == 422


async def test_edit_merge_and_delete_contacts(app):
    sam = await app.user("sam@crm.test")
    rival = await app.user("rival@other.test", team="other")
    keep = (await sam.post("/api/v1/contacts", {"email": "pat@acme.test", "name": "Pat"})).json()
    dup = (await sam.post("/api/v1/contacts", {"email": "pat.work@gmail.com"})).json()
    mine = await _log(app, sam, "pat@acme.test", "Hello", "a")
    theirs = [await _log(app, sam, "pat.work@gmail.com", f"Work {n}", "b") for n in range(3)]
    deal = (await sam.post("/api/v1/deals", {"name": "Pilot", "contact_ids": [dup["id"]]})).json()

    changed = await sam.client.patch(
        f"/api/v1/contacts/{keep['id']}",
        json={"first_name": "Pat", "last_name": "Doe", "phone": "+49 30 1234", "job_title": "CTO",
              "owner_id": sam.caller.user_id, "lifecycle_stage": "customer"},
        headers={"Authorization": f"Bearer {sam.token}"},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    profile = changed.json()
    assert (profile["last_name"], profile["phone"], profile["owner_id"], profile["lifecycle_stage"]) == (
        "Doe", "+49 30 1234", sam.caller.user_id, "customer",
    )  # fmt: skip
    assert profile["name"] == "Pat"  # untouched: not in the body
    for body, field in [({"lifecycle_stage": "king"}, "lifecycle_stage"), ({"phone": "1\n2"}, "phone")]:
        wrong = await sam.client.patch(
            f"/api/v1/contacts/{keep['id']}", json=body, headers={"Authorization": f"Bearer {sam.token}"}
        )
        assert wrong.status_code == 422 and wrong.json()["error"]["field"].endswith(field), wrong.text
    # Another team's user as owner, another team's contact: 404s.
    foreign_owner = await sam.client.patch(
        f"/api/v1/contacts/{keep['id']}",
        json={"owner_id": rival.caller.user_id},
        headers={"Authorization": f"Bearer {sam.token}"},
    )
    assert foreign_owner.status_code == 404
    assert (await rival.get(f"/api/v1/contacts/{keep['id']}/profile")).status_code == 404
    assert (
        await rival.post(f"/api/v1/contacts/{keep['id']}/merge", {"other_id": dup["id"]})
    ).status_code == 404

    # Merge: every email moves, the deal follows, blanks are filled; the duplicate is gone.
    merged = await sam.post(f"/api/v1/contacts/{keep['id']}/merge", {"other_id": dup["id"]})
    assert merged.status_code == 200, merged.text
    assert merged.json()["merged"] == {
        "contact_id": dup["id"],
        "email": "pat.work@gmail.com",
        "emails": 3,
        "deals": 1,
        "enrolments": 0,
    }
    emails = (await sam.get(f"/api/v1/contacts/{keep['id']}/emails")).json()["items"]
    assert sorted(e["id"] for e in emails) == sorted([mine, *theirs])
    # Paged two at a time, the moved emails keep their place in the timeline (newest first).
    paged, cursor = [], None
    while True:
        params = {"limit": 2, **({"before": cursor} if cursor else {})}
        page = (await sam.get(f"/api/v1/contacts/{keep['id']}/emails", params=params)).json()
        paged += [e["id"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert paged == [e["id"] for e in emails] and len(paged) == 4
    assert (await sam.get(f"/api/v1/contacts/{dup['id']}")).status_code == 404
    assert keep["id"] in (await sam.get(f"/api/v1/deals/{deal['id']}")).json()["contact_ids"]
    # The timeline's filters over the API: received and sent (these five were all received).
    received = (await sam.get(f"/api/v1/contacts/{keep['id']}/emails", params={"show": "received"})).json()
    assert len(received["items"]) == 4
    assert (await sam.get(f"/api/v1/contacts/{keep['id']}/emails", params={"show": "sent"})).json()[
        "items"
    ] == []
    assert (await sam.get(f"/api/v1/contacts/{keep['id']}/emails", params={"show": "x"})).status_code == 422
    into_itself = await sam.post(f"/api/v1/contacts/{keep['id']}/merge", {"other_id": keep["id"]})
    assert into_itself.status_code == 422

    # Delete: refused while an email is on this contact only (nothing becomes unreachable).
    try:
        await contact_edit.delete_contact(app.rt, sam.caller, keep["id"])
    except ServiceError as exc:
        assert exc.code == "contact_has_emails" and "3 emails are logged on this contact only" in exc.message
    else:
        raise AssertionError("a contact holding the only copy of its emails was deleted")
    assert len((await sam.get(f"/api/v1/contacts/{keep['id']}/emails")).json()["items"]) == 4
