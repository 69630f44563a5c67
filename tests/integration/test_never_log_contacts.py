"""A never-log list holds for contacts made by hand too (API, web form) and by CSV import, on SQLite
and PostgreSQL: a listed address (or one under a listed domain) is refused with `never_logged`, so
an old file re-imported cannot bring a forgotten person back; every other address still works."""

from __future__ import annotations

import re

from inboxlink.services.accounts.users import create_token, create_user
from tests.integration import crm_backends
from tests.support import app as support
from tests.support.web import sign_in

app = crm_backends.app

CSV = (
    "Email,First Name,Last Name\r\n"
    "kept@fine.test,Kim,Kept\r\n"
    "Gone@Old.test,Gus,Gone\r\n"
    "ann@sub.blocked.test,Ann,Blocked\r\n"
    "mine@private.test,Mo,Mine\r\n"
    "new@fine.test,Ned,New\r\n"
)


async def listed_team(app: support.TestApp) -> support.TestUser:
    """A seller whose team lists gone@old.test and blocked.test, and who lists private.test."""
    admin = await create_user(app.rt, "boss@crm.test", "correct horse battery", name="Boss", admin=True)
    boss = support.TestUser(admin, await create_token(app.rt, "boss@crm.test"), app.client)
    for value in ("gone@old.test", "blocked.test"):
        assert (await boss.post("/api/v1/never-log", {"value": value, "scope": "team"})).status_code == 201
    seller = await app.user("seller@crm.test")
    mine = await seller.post("/api/v1/never-log", {"value": "private.test", "scope": "me"})
    assert mine.status_code == 201
    return seller


async def test_api_refuses_a_listed_address_and_takes_the_others(app):
    seller = await listed_team(app)
    for address in ("gone@old.test", "GONE@old.TEST", "ann@sub.blocked.test", "mine@private.test"):
        resp = await seller.post("/api/v1/contacts", {"email": address, "name": "Back again"})
        assert resp.status_code == 422, (address, resp.text)
        error = resp.json()["error"]
        assert error["code"] == "never_logged"
        assert error["message"].startswith("This address is on the team's never-log list")
    assert (await seller.get("/api/v1/contacts")).json()["total"] == 0
    made = await seller.post("/api/v1/contacts", {"email": "pat@fine.test", "name": "Pat"})
    assert made.status_code == 201, made.text
    # Someone else's personal list is not the seller's: a teammate may add mine@private.test.
    other = await app.user("kim@crm.test")
    assert (await other.post("/api/v1/contacts", {"email": "mine@private.test"})).status_code == 201


async def test_web_form_shows_why_a_listed_address_is_refused(app):
    await listed_team(app)
    await sign_in(app.client, "seller@crm.test")
    page = await app.client.get("/contacts")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    resp = await app.client.post(
        "/contacts", data={"email": "gone@old.test", "name": "Gus", "company": "", "csrf_token": token}
    )
    assert resp.status_code == 422
    assert "This address is on the team&#39;s never-log list" in resp.text
    ok = await app.client.post(
        "/contacts", data={"email": "fine@fine.test", "name": "Fi", "company": "", "csrf_token": token}
    )
    assert ok.status_code == 303 and ok.headers["location"].startswith("/contacts/")


async def test_csv_import_skips_listed_rows_with_the_reason_and_imports_the_rest(app):
    seller = await listed_team(app)
    preview = (await seller.post("/api/v1/imports/contacts", {"csv": CSV, "dry_run": True})).json()
    assert preview["importable"] == 2
    assert [p["email"] for p in preview["preview"]] == ["kept@fine.test", "new@fine.test"]
    done = await seller.post("/api/v1/imports/contacts", {"csv": CSV})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["imported"] == 2 and body["rows"] == 5
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (3, "never_logged"),
        (4, "never_logged"),
        (5, "never_logged"),
    ]
    assert body["errors"][0]["message"] == (
        "gone@old.test: This address is on the team's never-log list (or your own), so it is not kept "
        "as a contact. Remove it from the list under Settings → Privacy first if this person should be "
        "in the CRM."
    )
    listed = {c["email"] for c in (await seller.get("/api/v1/contacts")).json()["items"]}
    assert listed == {"kept@fine.test", "new@fine.test"}
