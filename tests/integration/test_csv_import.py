"""CSV import and export (issue 13): bad rows are reported with their line and the rest is
imported; a dry run imports nothing; contacts join companies like any contact; export round-trips."""

from __future__ import annotations

import csv
import io
import re

from tests.integration import crm_backends
from tests.support.web import sign_in

app = crm_backends.app  # these tests run on SQLite and on PostgreSQL

CONTACTS = (
    "Email,First Name,Last Name,Company Name,Company Domain Name,Phone Number\r\n"
    "bob@acme.test,Bob,Buyer,Acme Inc,,+1 555 0100\r\n"
    "not-an-address,Bad,Row,,,\r\n"
    "ann@gmail.com,Ann,Free,Zeta Ltd,,\r\n"
    ",No,Email,,,\r\n"
    "bob@acme.test,Bob,Again,,,\r\n"
    "cy@eu.acme.test,Cy,,,,\r\n"
    "dee@gmail.com,Dee,,,bad domain!,\r\n"
    "=cmd@evil.test,Eve,=HYPERLINK(1),,,\r\n"
)


async def test_import_reports_bad_rows_and_imports_the_rest(app):
    user = await app.user("csv@crm.test")
    preview = await user.post("/api/v1/imports/contacts", {"csv": CONTACTS, "dry_run": True})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["imported"] == 0 and body["importable"] == 4
    assert (await user.get("/api/v1/contacts")).json()["total"] == 0  # a dry run imports nothing
    done = (await user.post("/api/v1/imports/contacts", {"csv": CONTACTS})).json()
    assert done["imported"] == 4 and done["rows"] == 8
    assert [(e["row"], e["message"].split(" ")[0]) for e in done["errors"]] == [
        (3, "'not-an-address'"),
        (5, "email"),
        (6, "bob@acme.test"),
        (8, "domain"),
    ]
    listed = {c["email"]: c for c in (await user.get("/api/v1/contacts")).json()["items"]}
    assert set(listed) == {"bob@acme.test", "ann@gmail.com", "cy@eu.acme.test", "=cmd@evil.test"} | set(
        listed
    )
    assert listed["bob@acme.test"]["name"] == "Bob Buyer" and listed["bob@acme.test"]["company"] == "Acme Inc"
    assert listed["cy@eu.acme.test"]["company_id"] == listed["bob@acme.test"]["company_id"]  # subdomain
    assert listed["ann@gmail.com"]["company"] == "Zeta Ltd"  # free mail: by name
    # Importing again: everything is there already, nothing doubles.
    again = (await user.post("/api/v1/imports/contacts", {"csv": CONTACTS})).json()
    assert again["imported"] == 0 and again["existing"] == 4
    # Export: HubSpot columns, formulas defused.
    exported = await user.get("/api/v1/exports/contacts")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    bob = next(r for r in rows if r["Email"] == "bob@acme.test")
    assert (bob["First Name"], bob["Last Name"], bob["Company Domain Name"], bob["Phone Number"]) == (
        "Bob",
        "Buyer",
        "acme.test",
        "+1 555 0100",
    )
    assert next(r for r in rows if r["Email"].endswith("evil.test"))["Email"].startswith("'=")


async def test_company_import_and_a_file_without_the_columns(app):
    user = await app.user("csv2@crm.test")
    made = (
        await user.post(
            "/api/v1/imports/companies",
            {
                "csv": "Name,Company Domain Name\nAcme,acme.test\nBeta,\n,\nGamma,not a domain\nAcme 2,acme.test\n"
            },
        )
    ).json()
    assert made["imported"] == 2 and made["existing"] == 1 and [e["row"] for e in made["errors"]] == [5]
    names = sorted(c["name"] for c in (await user.get("/api/v1/companies")).json()["items"])
    assert names == ["Acme", "Beta"]
    bad = await user.post("/api/v1/imports/contacts", {"csv": "foo,bar\n1,2\n"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_csv"


async def test_import_page_previews_then_imports(app):
    await app.user("csvweb@crm.test")
    await sign_in(app.client, "csvweb@crm.test")
    page = await app.client.get("/import")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    preview = await app.client.post(
        "/import",
        data={"csrf_token": token, "kind": "contacts", "action": "preview"},
        files={"file": ("contacts.csv", CONTACTS.encode(), "text/csv")},
    )
    assert preview.status_code == 200 and "4 to import" in preview.text and "not-an-address" in preview.text
    done = await app.client.post(
        "/import", data={"csrf_token": token, "kind": "contacts", "action": "import", "csv": CONTACTS}
    )
    assert "4 imported" in done.text
    assert "bob@acme.test" in (await app.client.get("/export/contacts.csv")).text


async def test_import_page_reads_a_latin1_file_without_mangling_names(app):
    """Excel on Windows saves CSV as Windows-1252: José must not become Jos\ufffd."""
    await app.user("csvlatin@crm.test")
    await sign_in(app.client, "csvlatin@crm.test")
    page = await app.client.get("/import")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    data = "Email,First Name,Last Name\r\njose@acme.test,José,Müller\r\n".encode("cp1252")
    done = await app.client.post(
        "/import",
        data={"csrf_token": token, "kind": "contacts", "action": "import"},
        files={"file": ("contacts.csv", data, "text/csv")},
    )
    assert "1 imported" in done.text
    exported = (await app.client.get("/export/contacts.csv")).text
    assert "José,Müller" in exported and "\ufffd" not in exported
