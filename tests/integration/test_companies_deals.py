"""Companies and deals over the API (issue 13): contacts join companies by domain, records are
team-private, merging keeps every email, and mail is logged on contact, company and deal — the
send from a deal and the reply delivered to the Dovecot INBOX alike."""

from __future__ import annotations

from typing import Any

from inboxlink.domain.models import Address
from inboxlink.services.crm.timeline import NewEmail, store_email
from tests.integration import crm_backends
from tests.integration.test_bcc import bcc_address, listening, message, send
from tests.support.app import wait_for
from tests.support.flows import connect, inbound, monitor_connected, wait_sent
from tests.support.replies import deliver_reply

app = crm_backends.app  # these tests run on SQLite and on PostgreSQL


async def _log(app: Any, user: Any, sender: str, subject: str) -> int:
    """An inbound email from `sender`, written through the timeline like any logged mail."""
    async with app.rt.engine.begin() as conn:
        return await store_email(
            app.rt,
            conn,
            NewEmail(
                team_id=user.caller.team_id,
                direction="inbound",
                status="logged",
                source="imap",
                message_id=f"{subject}@x.test",
                dedupe_key=f"{subject}@x.test",
                sender=Address(sender),
                to=[],
                cc=[],
                subject=subject,
                text="t",
                html=None,
                sent_at=None,
            ),
        )


async def test_contacts_join_the_company_of_their_domain_and_free_mail_joins_none(app):
    user = await app.user("seller@crm.test")
    bob = (await user.post("/api/v1/contacts", {"email": "bob@acme.test", "name": "Bob"})).json()
    assert bob["company_id"] is not None and bob["company"] == "Acme"
    acme = (await user.get(f"/api/v1/companies/{bob['company_id']}")).json()
    assert acme["name"] == "Acme" and acme["domain"] == "acme.test"
    # The second contact at Acme joins it; a subdomain belongs to it too; free mail to none.
    alice = (await user.post("/api/v1/contacts", {"email": "alice@acme.test"})).json()
    eu = (await user.post("/api/v1/contacts", {"email": "jo@eu.acme.test"})).json()
    x = (await user.post("/api/v1/contacts", {"email": "x@gmail.com"})).json()
    hot = (await user.post("/api/v1/contacts", {"email": "y@hotmail.fr"})).json()
    assert alice["company_id"] == eu["company_id"] == acme["id"]
    assert x["company_id"] is None and hot["company_id"] is None
    listed = (await user.get(f"/api/v1/companies/{acme['id']}/contacts")).json()["items"]
    assert {c["email"] for c in listed} == {"bob@acme.test", "alice@acme.test", "jo@eu.acme.test"}
    assert (await user.get("/api/v1/companies", params={"domain": "eu.acme.test"})).json()["items"][0][
        "id"
    ] == acme["id"]
    assert (await user.get("/api/v1/companies", params={"domain": "gmail.com"})).json()["items"] == []
    # A free-mail contact with a company name joins (or creates) the company of that name.
    named = (await user.post("/api/v1/contacts", {"email": "z@gmail.com", "company": "Zeta Ltd"})).json()
    assert named["company"] == "Zeta Ltd" and named["company_id"] not in (None, acme["id"])
    # A correspondent first seen in mail is placed the same way.
    await _log(app, user, "carol@newco.test", "hello")
    [carol] = (await user.get("/api/v1/contacts", params={"email": "carol@newco.test"})).json()["items"]
    newco = (await user.get(f"/api/v1/companies/{carol['company_id']}")).json()
    assert newco["name"] == "Newco"
    [email] = (await user.get(f"/api/v1/companies/{newco['id']}/emails")).json()["items"]
    assert email["company_ids"] == [newco["id"]] and email["deal_ids"] == []


async def test_company_contract_errors_and_other_teams(app):
    user = await app.user("seller@crm.test")
    other = await app.user("rival@other.test", team="other")
    made = await user.post("/api/v1/companies", {"name": "Acme Corp", "domain": "https://www.Acme.test/"})
    assert made.status_code == 201, made.text
    assert {k: made.json()[k] for k in ("name", "domain")} == {"name": "Acme Corp", "domain": "acme.test"}
    again = await user.post("/api/v1/companies", {"name": "Acme again", "domain": "acme.test"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "company_exists"
    bad = await user.post("/api/v1/companies", {"name": "X", "domain": "not a domain"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_domain"
    company_id = made.json()["id"]
    deal = (await user.post("/api/v1/deals", {"name": "Renewal", "company_id": company_id})).json()
    for url in (
        f"/api/v1/companies/{company_id}",
        f"/api/v1/companies/{company_id}/emails",
        f"/api/v1/companies/{company_id}/contacts",
        f"/api/v1/companies/{company_id}/attachments",
        f"/api/v1/deals/{deal['id']}",
        f"/api/v1/deals/{deal['id']}/emails",
    ):
        resp = await other.get(url)
        assert resp.status_code == 404, url
        assert resp.json()["error"]["code"].endswith("_not_found")
    # Nor can the other team hang its records onto ours.
    assert (await other.post("/api/v1/deals", {"name": "x", "company_id": company_id})).status_code == 404
    patch = await other.client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"stage": "won"},
        headers={"Authorization": f"Bearer {other.token}"},
    )
    assert patch.status_code == 404
    assert (await other.get("/api/v1/companies", params={"domain": "acme.test"})).json()["items"] == []


async def test_deals_have_the_default_pipeline_amounts_and_filters(app):
    user = await app.user("seller@crm.test")
    bob = (await user.post("/api/v1/contacts", {"email": "bob@acme.test"})).json()
    resp = await user.post(
        "/api/v1/deals",
        {
            "name": "Acme pilot",
            "company_id": bob["company_id"],
            "contact_ids": [bob["id"]],
            "amount": 12500.5,
        },
    )
    assert resp.status_code == 201, resp.text
    deal = resp.json()
    assert {k: deal[k] for k in ("name", "stage", "amount", "company_id", "contact_ids")} == {
        "name": "Acme pilot",
        "stage": "appointment_scheduled",
        "amount": 12500.5,
        "company_id": bob["company_id"],
        "contact_ids": [bob["id"]],
    }
    assert deal["owner_id"] == user.caller.user_id
    stages = [s["key"] for s in (await user.get("/api/v1/pipeline")).json()["stages"]]
    assert stages == ["appointment_scheduled", "qualified", "proposal", "negotiation", "won", "lost"]
    auth = {"Authorization": f"Bearer {user.token}"}
    moved = await user.client.patch(
        f"/api/v1/deals/{deal['id']}", json={"stage": "proposal", "currency": "eur"}, headers=auth
    )
    assert (
        moved.status_code == 200 and moved.json()["stage"] == "proposal" and moved.json()["currency"] == "EUR"
    )
    assert moved.json()["amount"] == 12500.5  # untouched by a PATCH that does not name it
    wrong = await user.client.patch(f"/api/v1/deals/{deal['id']}", json={"stage": "closing"}, headers=auth)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_stage"
    cents = await user.post("/api/v1/deals", {"name": "x", "amount": 1.234})
    assert cents.status_code == 422 and cents.json()["error"]["code"] == "invalid_amount"
    await user.post("/api/v1/deals", {"name": "Other", "stage": "qualified"})
    by_stage = (await user.get("/api/v1/deals", params={"stage": "proposal"})).json()["items"]
    by_company = (await user.get("/api/v1/deals", params={"company_id": bob["company_id"]})).json()["items"]
    by_owner = (await user.get("/api/v1/deals", params={"owner_id": user.caller.user_id})).json()
    assert [d["name"] for d in by_stage] == ["Acme pilot"] == [d["name"] for d in by_company]
    assert by_owner["total"] == 2


async def test_merging_two_companies_keeps_every_email_and_contact(app):
    user = await app.user("seller@crm.test")
    await _log(app, user, "bob@acme.test", "one")
    await _log(app, user, "ann@acme-europe.test", "two")
    await _log(app, user, "bob@acme.test", "three")
    acme = (await user.get("/api/v1/companies", params={"domain": "acme.test"})).json()["items"][0]
    europe = (await user.get("/api/v1/companies", params={"domain": "acme-europe.test"})).json()["items"][0]
    deal = (await user.post("/api/v1/deals", {"name": "EU rollout", "company_id": europe["id"]})).json()
    merged = await user.post(f"/api/v1/companies/{acme['id']}/merge", {"from_id": europe["id"]})
    assert merged.status_code == 200, merged.text
    assert sorted(merged.json()["domains"]) == ["acme-europe.test", "acme.test"]
    emails = (await user.get(f"/api/v1/companies/{acme['id']}/emails")).json()["items"]
    assert [e["subject"] for e in emails] == ["three", "two", "one"]  # newest first, none lost
    people = (await user.get(f"/api/v1/companies/{acme['id']}/contacts")).json()["items"]
    assert {c["email"] for c in people} == {"bob@acme.test", "ann@acme-europe.test"}
    assert (await user.get(f"/api/v1/deals/{deal['id']}")).json()["company_id"] == acme["id"]
    assert (await user.get(f"/api/v1/companies/{europe['id']}")).status_code == 404
    # The merged company's domain now leads to the one it went into.
    await _log(app, user, "new@acme-europe.test", "four")
    [new] = (await user.get("/api/v1/contacts", params={"email": "new@acme-europe.test"})).json()["items"]
    assert new["company_id"] == acme["id"]


async def test_send_from_a_deal_and_its_reply_land_on_deal_contact_and_company(
    app, mail_server, provider_smtp, mail_user
):
    client = f"bob-{mail_user.email.split('@')[0]}@acme.test"
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    bob = (await user.post("/api/v1/contacts", {"email": client})).json()
    deal = (
        await user.post(
            "/api/v1/deals",
            {"name": "Acme pilot", "company_id": bob["company_id"], "contact_ids": [bob["id"]]},
        )
    ).json()
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": client}],
            "subject": "Pilot",
            "text": "Hi",
            "deal_id": deal["id"],
        },
    )
    assert resp.status_code == 202, resp.text
    sent = await wait_sent(user, resp.json()["id"])
    assert sent["deal_ids"] == [deal["id"]] and sent["company_ids"] == [bob["company_id"]]
    assert sent["contact_ids"] == [bob["id"]]
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    deliver_reply(
        mail_server, mail_user.email, client, sent["message_id"], "Sounds good", subject="Re: Pilot"
    )
    [reply] = await inbound(user, bob["id"])
    assert reply["deal_ids"] == [deal["id"]] and reply["company_ids"] == [bob["company_id"]]
    on_deal = (await user.get(f"/api/v1/deals/{deal['id']}/emails")).json()["items"]
    on_company = (await user.get(f"/api/v1/companies/{bob['company_id']}/emails")).json()["items"]
    assert [e["id"] for e in on_deal] == [reply["id"], sent["id"]] == [e["id"] for e in on_company]

    # A plain email to the same contact (not from the deal): its reply is on contact and company only.
    plain = await user.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": [{"email": client}], "subject": "Lunch?", "text": "t"},
    )
    plain_sent = await wait_sent(user, plain.json()["id"])
    assert plain_sent["deal_ids"] == [] and plain_sent["company_ids"] == [bob["company_id"]]
    deliver_reply(
        mail_server, mail_user.email, client, plain_sent["message_id"], "Sure", subject="Re: Lunch?"
    )
    replies = await inbound(user, bob["id"], count=2)
    lunch = next(e for e in replies if e["subject"] == "Re: Lunch?")
    assert lunch["deal_ids"] == [] and lunch["company_ids"] == [bob["company_id"]]
    assert lunch["contact_ids"] == [bob["id"]]
    assert len((await user.get(f"/api/v1/deals/{deal['id']}/emails")).json()["items"]) == 2


async def test_bcc_mail_goes_on_the_contacts_only_open_deal(app):
    user = await app.user("seller@crm.test")
    bob = (await user.post("/api/v1/contacts", {"email": "bob@acme.test"})).json()
    ann = (await user.post("/api/v1/contacts", {"email": "ann@beta.test"})).json()
    one = (await user.post("/api/v1/deals", {"name": "Acme", "contact_ids": [bob["id"]]})).json()
    await user.post("/api/v1/deals", {"name": "Beta 1", "contact_ids": [ann["id"]]})
    await user.post("/api/v1/deals", {"name": "Beta 2", "contact_ids": [ann["id"]]})
    async with listening(app.rt) as listener:
        await send(
            listener,
            "seller@crm.test",
            [bcc_address(user)],
            message("seller@crm.test", "bob@acme.test", "To Bob", "t"),
        )
        await send(
            listener,
            "seller@crm.test",
            [bcc_address(user)],
            message("seller@crm.test", "ann@beta.test", "To Ann", "t"),
        )
    [to_bob] = (await user.get(f"/api/v1/contacts/{bob['id']}/emails")).json()["items"]
    [to_ann] = (await user.get(f"/api/v1/contacts/{ann['id']}/emails")).json()["items"]
    assert to_bob["deal_ids"] == [one["id"]] and to_bob["company_ids"] == [bob["company_id"]]
    assert to_ann["deal_ids"] == []  # two open deals: nobody can tell which was meant
    assert to_ann["company_ids"] == [ann["company_id"]]


async def test_relink_files_an_email_on_a_deal_and_a_company(app):
    user = await app.user("seller@crm.test")
    email_id = await _log(app, user, "x@gmail.com", "misc")
    company = (await user.post("/api/v1/companies", {"name": "Acme", "domain": "acme.test"})).json()
    deal = (await user.post("/api/v1/deals", {"name": "Pilot"})).json()
    resp = await user.post(
        f"/api/v1/emails/{email_id}/relink", {"company_id": company["id"], "deal_id": deal["id"]}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["company_ids"] == [company["id"]] and resp.json()["deal_ids"] == [deal["id"]]
    assert [e["id"] for e in (await user.get(f"/api/v1/deals/{deal['id']}/emails")).json()["items"]] == [
        email_id
    ]


async def test_ids_in_bodies_never_reach_another_teams_records(app):
    """Review of issue 13: every id a body takes is checked against the caller's team."""
    user = await app.user("owner@crm.test")
    other = await app.user("intruder@other.test", team="other")
    theirs = (await user.post("/api/v1/companies", {"name": "Acme", "domain": "acme.test"})).json()
    their_contact = (await user.post("/api/v1/contacts", {"email": "bob@acme.test"})).json()
    their_deal = (await user.post("/api/v1/deals", {"name": "Big"})).json()
    mine = (await other.post("/api/v1/companies", {"name": "Mine", "domain": "mine.test"})).json()
    my_contact = (await other.post("/api/v1/contacts", {"email": "me@mine.test"})).json()
    my_email = await _log(app, other, "me@mine.test", "mine")
    attempts = [
        await other.post(f"/api/v1/companies/{mine['id']}/merge", {"from_id": theirs["id"]}),
        await other.post(f"/api/v1/companies/{theirs['id']}/merge", {"from_id": mine["id"]}),
        await other.put(f"/api/v1/contacts/{my_contact['id']}/company", {"company_id": theirs["id"]}),
        await other.put(f"/api/v1/contacts/{their_contact['id']}/company", {"company_id": mine["id"]}),
        await other.post("/api/v1/deals", {"name": "x", "contact_ids": [their_contact["id"]]}),
        await other.post("/api/v1/contacts", {"email": "z@z.test", "company_id": theirs["id"]}),
        await other.post(f"/api/v1/emails/{my_email}/relink", {"company_id": theirs["id"]}),
        await other.post(f"/api/v1/emails/{my_email}/relink", {"deal_id": their_deal["id"]}),
    ]
    assert [a.status_code for a in attempts] == [404] * len(attempts), [a.text for a in attempts]
    assert (await user.get(f"/api/v1/companies/{theirs['id']}")).status_code == 200
    assert (await user.get(f"/api/v1/companies/{theirs['id']}/emails")).json()["items"] == []
    assert (await user.get(f"/api/v1/deals/{their_deal['id']}/emails")).json()["items"] == []
    contact = (await user.get(f"/api/v1/contacts/{their_contact['id']}")).json()
    assert contact["company_id"] == theirs["id"]
    listed = await other.get("/api/v1/deals", params={"company_id": theirs["id"]})
    assert listed.json()["items"] == []


async def test_search_treats_percent_and_underscore_as_letters(app):
    """`%` or `_` typed into the search box matched every company, deal and contact (LIKE wildcards)."""
    user = await app.user("finder@crm.test")
    await user.post("/api/v1/companies", {"name": "Acme", "domain": "acme.test"})
    await user.post("/api/v1/companies", {"name": "100% Cotton"})
    await user.post("/api/v1/deals", {"name": "Renewal"})
    await user.post("/api/v1/deals", {"name": "Upsell 20%"})
    await user.post("/api/v1/contacts", {"email": "bob@acme.test", "name": "Bob"})
    found = (await user.get("/api/v1/companies", params={"q": "%"})).json()["items"]
    assert [c["name"] for c in found] == ["100% Cotton"]
    assert [d["name"] for d in (await user.get("/api/v1/deals", params={"q": "%"})).json()["items"]] == [
        "Upsell 20%"
    ]
    assert (await user.get("/api/v1/contacts", params={"q": "__"})).json()["items"] == []


async def test_merging_companies_that_share_an_email_keeps_it_once(app):
    user = await app.user("sharer@crm.test")
    async with app.rt.engine.begin() as conn:
        await store_email(
            app.rt,
            conn,
            NewEmail(
                team_id=user.caller.team_id,
                direction="inbound",
                status="logged",
                source="imap",
                message_id="both@x.test",
                dedupe_key="both@x.test",
                sender=Address("bob@acme.test"),
                to=[Address("ann@acme-europe.test")],
                cc=[],
                subject="both",
                text="t",
                html=None,
                sent_at=None,
            ),
        )
    acme = (await user.get("/api/v1/companies", params={"domain": "acme.test"})).json()["items"][0]
    europe = (await user.get("/api/v1/companies", params={"domain": "acme-europe.test"})).json()["items"][0]
    before = (await user.get(f"/api/v1/companies/{europe['id']}/emails")).json()["items"]
    assert [e["subject"] for e in before] == ["both"]
    merged = await user.post(f"/api/v1/companies/{acme['id']}/merge", {"from_id": europe["id"]})
    assert merged.status_code == 200, merged.text
    emails = (await user.get(f"/api/v1/companies/{acme['id']}/emails")).json()["items"]
    assert [e["subject"] for e in emails] == ["both"]
    assert emails[0]["company_ids"] == [acme["id"]]
