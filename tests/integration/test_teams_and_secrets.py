"""Who sees what (team scoping, 404 never 403) and that secrets stay secret."""

from __future__ import annotations

import logging

from tests.support.flows import connect, wait_sent


async def test_another_teams_objects_answer_404(app, mail_server, provider_smtp, mail_user):
    owner, inbox = await connect(app, mail_server, provider_smtp, mail_user, login="owner@acme.test")
    resp = await owner.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": "lead@prospect.test"}],
            "subject": "Hi",
            "text": "t",
            "attachments": [
                {"filename": "a.txt", "content_type": "text/plain", "content_base64": "aGVsbG8="}
            ],
        },
    )
    sent = await wait_sent(owner, resp.json()["id"])
    contact_id = sent["contact_ids"][0]
    attachment_id = sent["attachments"][0]["id"]

    outsider = await app.user("spy@rival.test", team="rival")
    for url in [
        f"/api/v1/contacts/{contact_id}",
        f"/api/v1/contacts/{contact_id}/emails",
        f"/api/v1/contacts/{contact_id}/attachments",
        f"/api/v1/inboxes/{inbox['id']}",
        f"/api/v1/emails/{sent['id']}",
        f"/api/v1/threads/{sent['thread_id']}",
        f"/api/v1/attachments/{attachment_id}",
    ]:
        resp = await outsider.get(url)
        assert resp.status_code == 404, url
        assert resp.json()["error"]["code"].endswith("not_found")
    assert (await outsider.get("/api/v1/contacts")).json()["items"] == []
    assert (await outsider.get("/api/v1/inboxes")).json()["items"] == []
    resp = await outsider.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": [{"email": "a@b.test"}], "subject": "x", "text": "y"},
    )
    assert resp.status_code == 404
    assert (
        await outsider.put(f"/api/v1/inboxes/{inbox['id']}/credentials", {"password": "x"})
    ).status_code == 404
    # The rival team may have a contact with the same address: unique per team, not globally.
    assert (await outsider.post("/api/v1/contacts", {"email": "lead@prospect.test"})).status_code == 201

    teammate = await app.user("colleague@acme.test")
    assert (await teammate.get(f"/api/v1/contacts/{contact_id}/emails")).json()["items"][0]["id"] == sent[
        "id"
    ]
    assert (await teammate.get(f"/api/v1/inboxes/{inbox['id']}")).status_code == 200
    # ...but only the owner sends through the inbox or changes it.
    resp = await teammate.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": [{"email": "a@b.test"}], "subject": "x", "text": "y"},
    )
    assert resp.status_code == 404
    assert (await teammate.delete(f"/api/v1/inboxes/{inbox['id']}")).status_code == 404


async def test_missing_or_wrong_token_is_401(app):
    assert (await app.client.get("/api/v1/me")).status_code == 401
    resp = await app.client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_token"


async def test_contacts_are_normalised_and_unique(app):
    user = await app.user("c@acme.test")
    resp = await user.post(
        "/api/v1/contacts", {"email": "  Jane.Doe@Example.COM ", "name": "Jane Doe", "company": "Example"}
    )
    assert resp.status_code == 201 and resp.json()["email"] == "jane.doe@example.com"
    dup = await user.post("/api/v1/contacts", {"email": "jane.doe@example.com"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "contact_exists"
    assert (await user.post("/api/v1/contacts", {"email": "nope"})).json()["error"][
        "code"
    ] == "invalid_address"
    found = (await user.get("/api/v1/contacts", params={"email": "JANE.DOE@example.com"})).json()["items"]
    assert [c["name"] for c in found] == ["Jane Doe"]
    me = (await user.get("/api/v1/me")).json()
    assert me["email"] == "c@acme.test" and me["bcc_address"].endswith("@bcc.localhost")


async def test_secrets_and_mail_bodies_are_not_in_the_database_or_the_log(
    app, mail_server, provider_smtp, mail_user, caplog
):
    caplog.set_level(logging.DEBUG)
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": "q@elsewhere.test"}],
            "subject": "s",
            "text": "BODY-MARKER-7f3a: the offer",
            "html": "<p>HTML-MARKER-7f3a</p>",
        },
    )
    await wait_sent(user, resp.json()["id"])
    await app.rt.engine.dispose()  # flush the WAL into the main file too
    secret = mail_user.password.encode()
    for path in app.data_dir.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
    for marker in (b"BODY-MARKER-7f3a", b"HTML-MARKER-7f3a"):  # stored mail is encrypted at rest too
        for path in app.data_dir.rglob("*"):
            if path.is_file():
                assert marker not in path.read_bytes(), (marker, path)
    shown = (await user.get(f"/api/v1/emails/{resp.json()['id']}")).json()
    assert shown["text"] == "BODY-MARKER-7f3a: the offer" and "HTML-MARKER-7f3a" in shown["html"]
    assert mail_user.password not in caplog.text
    # A credential written as a statement parameter (the new BCC logging address) stays out of the
    # log too, with every logger at DEBUG (aiosqlite logs each statement with its parameters).
    rotated = (await user.post("/api/v1/me/bcc-address/rotate")).json()["bcc_address"]
    assert rotated.split("@")[0] not in caplog.text
    assert mail_user.password not in (await user.get(f"/api/v1/inboxes/{inbox['id']}")).text
    assert (app.data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    assert (app.data_dir / "inboxlink.db").stat().st_mode & 0o777 == 0o600
    assert app.data_dir.stat().st_mode & 0o777 == 0o700
