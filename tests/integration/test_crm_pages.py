"""The companies and deals pages over HTTP (forms with CSRF, as a browser without JavaScript
posts them): create, edit, move a deal's stage, merge, search, another team's record is a 404."""

from __future__ import annotations

import re

from tests.support.web import sign_in


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def test_work_an_account_from_the_pages(app):
    user = await app.user("pages@crm.test")
    await sign_in(app.client, "pages@crm.test")
    client = app.client
    page = await client.get("/companies")
    assert page.status_code == 200 and "New company" in page.text
    made = await client.post(
        "/companies", data={"name": "Acme", "domain": "acme.test", "csrf_token": _csrf(page.text)}
    )
    assert made.status_code == 303
    company_url = made.headers["location"]
    company_id = int(company_url.rsplit("/", 1)[1])
    # A contact created from the contacts page joins it by its domain.
    contacts = await client.get("/contacts")
    await client.post(
        "/contacts", data={"email": "bob@acme.test", "name": "Bob", "csrf_token": _csrf(contacts.text)}
    )
    record = await client.get(company_url)
    assert (
        record.status_code == 200
        and "bob@acme.test" in record.text
        and "Write an email from Acme" in record.text
    )
    # The same domain twice: the form says why.
    again = await client.post(
        "/companies", data={"name": "Acme 2", "domain": "acme.test", "csrf_token": _csrf(page.text)}
    )
    assert again.status_code == 422 and "already exists" in again.text
    # A deal from the company page, then its stage moved from the deal page.
    deal = await client.post(
        "/deals", data={"name": "Pilot", "company_id": str(company_id), "csrf_token": _csrf(record.text)}
    )
    assert deal.status_code == 303
    deal_url = deal.headers["location"]
    deal_page = await client.get(deal_url)
    assert "Appointment scheduled" in deal_page.text
    moved = await client.post(deal_url, data={"stage": "negotiation", "csrf_token": _csrf(deal_page.text)})
    assert moved.status_code == 303
    board = await client.get("/deals")
    assert board.status_code == 200
    column = board.text.split('id="col-negotiation"', 1)[1].split("</section>", 1)[0]
    assert "Pilot" in column
    # Search: the deal by name, the company by domain, the contact by address.
    found = (await client.get("/search", params={"q": "acme"}, headers={"Accept": "application/json"})).json()
    assert [c["name"] for c in found["companies"]] == ["Acme"] and found["contacts"][0][
        "email"
    ] == "bob@acme.test"
    assert (await client.get("/search", params={"q": "pilo"}, headers={"Accept": "application/json"})).json()[
        "deals"
    ][0]["name"] == "Pilot"
    # Another team's company and deal are not there.
    await app.user("rival@other.test", team="other")
    client.cookies.clear()
    await sign_in(client, "rival@other.test")
    assert (await client.get(company_url)).status_code == 404
    assert (await client.get(deal_url)).status_code == 404
    assert user.caller.team_id is not None


async def test_edit_a_contact_and_merge_companies_from_the_pages(app):
    user = await app.user("merge@crm.test")
    await sign_in(app.client, "merge@crm.test")
    a = (await user.post("/api/v1/companies", {"name": "Acme", "domain": "acme.test"})).json()
    b = (await user.post("/api/v1/companies", {"name": "Acme EU", "domain": "acme.eu"})).json()
    ann = (await user.post("/api/v1/contacts", {"email": "ann@gmail.com"})).json()
    edit = await app.client.get(f"/contacts/{ann['id']}/edit")
    saved = await app.client.post(
        f"/contacts/{ann['id']}/edit",
        data={"name": "Ann", "company_id": str(b["id"]), "csrf_token": _csrf(edit.text)},
    )
    assert saved.status_code == 303
    assert (await user.get(f"/api/v1/contacts/{ann['id']}")).json()["company_id"] == b["id"]
    page = await app.client.get(f"/companies/{a['id']}")
    merged = await app.client.post(
        f"/companies/{a['id']}/merge", data={"from_id": str(b["id"]), "csrf_token": _csrf(page.text)}
    )
    assert merged.status_code == 303
    assert (await user.get(f"/api/v1/contacts/{ann['id']}")).json()["company_id"] == a["id"]
    assert (await app.client.get(f"/companies/{b['id']}")).status_code == 404
