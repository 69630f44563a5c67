"""Forgetting and exporting at the edges (found by review after issue 15): a bounce's error, mail not
sent yet, an address with a Unicode domain, and an export that holds the whole person — profile,
phone, sequence enrolments. Helpers shared with test_privacy.py."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

from inboxlink.services.crm.forget import forget_address
from tests.integration.conftest import CLIENT
from tests.integration.test_privacy import admin_of, contact_id_of
from tests.support.app import wait_for
from tests.support.flows import connect, monitor_connected, wait_sent
from tests.support.replies import dsn_for
from tests.support.web import sign_in


async def test_forget_reaches_bounce_errors_unsent_mail_and_idn_addresses(
    app, conversation, mail_server, mail_user
):
    """What forgetting used to miss: a shared email's bounce error still named the person; a shared
    email not sent yet would still go to them (its rendered payload names them); an address with a
    Unicode domain went on the never-log list in a form that never matched."""
    user, inbox, _sent = conversation
    dana = "dana@prospect.test"
    both = [{"email": CLIENT}, {"email": dana}]
    resp = await user.post(
        "/api/v1/emails", {"inbox_id": inbox["id"], "to": both, "subject": "To you two", "text": "Hi"}
    )
    shared = await wait_sent(user, resp.json()["id"])
    mail_server.deliver(mail_user.email, dsn_for(shared["message_id"], mail_user.email, CLIENT))

    async def bounced() -> dict | None:
        e = (await user.get(f"/api/v1/emails/{shared['id']}")).json()
        return e if e["status"] == "bounced" else None

    assert CLIENT in json.dumps((await wait_for(bounced, timeout=20))["error"])
    later = datetime.now(UTC) + timedelta(hours=3)
    resp = await user.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": both, "subject": "Later", "text": "x", "send_at": later.isoformat()},
    )
    assert resp.status_code == 202, resp.text
    scheduled_id = resp.json()["id"]

    boss = await admin_of(app, user)
    chris = await contact_id_of(boss, CLIENT)
    assert (await boss.delete(f"/api/v1/contacts/{chris}?forget=true")).status_code == 204
    kept = (await boss.get(f"/api/v1/emails/{shared['id']}")).json()
    assert kept["status"] == "bounced" and CLIENT not in json.dumps(kept), kept
    unsent = (await boss.get(f"/api/v1/emails/{scheduled_id}")).json()
    assert unsent["status"] == "cancelled" and unsent["error"]["code"] == "recipient_forgotten"
    assert CLIENT not in json.dumps(unsent)
    async with app.rt.engine.connect() as conn:
        payload = (
            await conn.exec_driver_sql("SELECT payload FROM outbox WHERE email_id = ?", (scheduled_id,))
        ).scalar()
    assert payload == b""  # the rendered mail, which named the person, is gone too

    # `inboxlink forget` of an address with a Unicode domain (as the mail parser keeps them).
    assert await forget_address(app.rt, boss.caller.team_id, "anna@bücher.test", "cli") is None
    listed = [e["value"] for e in (await boss.get("/api/v1/never-log")).json()["items"]]
    assert "anna@xn--bcher-kva.test" in listed  # the form incoming mail is compared in


async def test_export_holds_the_profile_the_phone_and_every_enrolment_with_its_history(
    app, mail_server, provider_smtp, mail_user
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    contact = (await user.post("/api/v1/contacts", {"email": CLIENT, "name": "Chris Client"})).json()
    resp = await user.client.patch(
        f"/api/v1/contacts/{contact['id']}",
        headers={"Authorization": f"Bearer {user.token}"},
        json={"first_name": "Chris", "last_name": "Client", "job_title": "Head of Buying",
         "phone": "+49 30 1234567", "owner_id": user.caller.user_id, "lifecycle_stage": "customer"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    resp = await user.post(
        "/api/v1/sequences",
        {"name": "After the demo", "time_zone": "Europe/Berlin", "window_start": "09:00",
         "window_end": "17:00", "steps": [{"subject": "Offer", "text": "Here it is.", "delay_days": 3}]},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    sequence = resp.json()
    resp = await user.post(
        f"/api/v1/sequences/{sequence['id']}/enrolments",
        {"inbox_id": inbox["id"], "contact_ids": [contact["id"]]},
    )
    assert resp.status_code == 201, resp.text
    [enrolled] = resp.json()["items"]
    assert (await user.delete(f"/api/v1/enrolments/{enrolled['id']}")).status_code == 200  # ended one
    resp = await user.post(
        f"/api/v1/sequences/{sequence['id']}/enrolments",
        {"inbox_id": inbox["id"], "contact_ids": [contact["id"]]},
    )
    [again] = resp.json()["items"]

    resp = await user.get(f"/api/v1/contacts/{contact['id']}/export")
    assert resp.status_code == 200
    data = json.loads(zipfile.ZipFile(io.BytesIO(resp.content)).read("data.json"))
    person = data["contact"]
    assert person["email"] == CLIENT and person["name"] == "Chris Client"
    assert (person["first_name"], person["last_name"], person["job_title"]) == (
        "Chris",
        "Client",
        "Head of Buying",
    )
    assert person["phone"] == "+49 30 1234567"
    assert person["owner_id"] == user.caller.user_id and person["lifecycle_stage"] == "customer"
    assert [e["id"] for e in data["enrolments"]] == [enrolled["id"], again["id"]]
    first, second = data["enrolments"]
    assert first["sequence_name"] == "After the demo" and first["status"] == "stopped"
    assert first["stop_reason"] == "unenrolled"
    assert [h["kind"] for h in first["history"]] == ["enrolled", "stopped"]
    assert second["status"] == "active" and [h["kind"] for h in second["history"]] == ["enrolled"]
    assert data["emails"] == []


async def test_a_shared_email_cancelled_by_a_forget_says_why_on_the_record(app, conversation):
    """The other recipient's record tells the seller that the scheduled email was not sent, and why."""
    user, inbox, _sent = conversation
    later = datetime.now(UTC) + timedelta(hours=3)
    both = [{"email": CLIENT}, {"email": "dana@prospect.test"}]
    resp = await user.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": both, "subject": "Later", "text": "x", "send_at": later.isoformat()},
    )
    assert resp.status_code == 202, resp.text
    boss = await admin_of(app, user)
    assert (
        await boss.delete(f"/api/v1/contacts/{await contact_id_of(boss, CLIENT)}?forget=true")
    ).status_code == 204
    await sign_in(app.client, "seller@crm.test")
    page = (await app.client.get(f"/contacts/{await contact_id_of(user, 'dana@prospect.test')}")).text
    assert "data-cancelled" in page and "one of its recipients was forgotten" in page
    assert "Cancel sending" not in page
