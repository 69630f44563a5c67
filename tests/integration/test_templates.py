"""Templates through the API and the real send path (Dovecot + the provider's SMTP): tokens and
fallbacks per contact, missing tokens refused before anything is queued, the sandbox, team isolation."""

from __future__ import annotations

import email
from email import policy
from typing import Any

from sqlalchemy import func, select

from inboxlink.services.mail.template_render import MissingToken, render_for_contact
from inboxlink.storage.tables import emails, outbox
from tests.support.app import wait_for
from tests.support.flows import connect, wait_sent

TEMPLATE = {
    "name": "First contact",
    "subject": "{{ company.name | default('Your team') }} × {{ sender.name }}",
    "text": 'Hi {{ contact.first_name | default("there") }},\nI am {{ sender.name }} <{{ sender.email }}>.\n',
    "html": "<p>Hi {{ contact.first_name | default('there') }} {{ contact.last_name | default('') }}</p>"
    '<script>alert(1)</script><p onclick="x()">{{ deal.name | default("our offer") }}</p>',
}


def parsed(raw: bytes) -> Any:
    return email.message_from_bytes(raw, policy=policy.default)


async def _received(mail_server: Any, address: str, count: int = 1) -> list[Any]:
    async def arrived() -> list[bytes] | None:
        found = mail_server.messages(address, "INBOX")
        return found if len(found) >= count else None

    return [parsed(raw) for raw in await wait_for(arrived)]


async def test_a_template_renders_per_contact_with_fallbacks(app, mail_server, provider_smtp, mail_user):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    zoe, anon = f"zoe-{mail_user.email}", f"anon-{mail_user.email}"
    for address in (zoe, anon):
        mail_server.add_user(address, "pw")
    contact = (
        await user.post(
            "/api/v1/contacts", {"email": zoe, "name": "Zoë van Dijk", "company": "Prospect & Co"}
        )
    ).json()
    created = await user.post("/api/v1/templates", TEMPLATE)
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["tokens"] == [
        "contact.first_name",
        "contact.last_name",
        "company.name",
        "deal.name",
        "sender.name",
        "sender.email",
    ]

    preview = await user.post(f"/api/v1/templates/{template['id']}/preview", {"contact_id": contact["id"]})
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    company = contact["company"]  # the company the contact is in (by its domain here)
    assert company
    assert shown["subject"] == f"{company} × Sam Seller"
    assert shown["text"].startswith("Hi Zoë,\nI am Sam Seller <seller@crm.test>.")
    assert "<script>" not in shown["html"] and "onclick" not in shown["html"]
    assert "Hi Zoë van Dijk" in shown["html"] and "our offer" in shown["html"]

    for address in (zoe, anon):
        resp = await user.post(
            "/api/v1/emails",
            {"inbox_id": inbox["id"], "to": [{"email": address}], "template_id": template["id"]},
        )
        assert resp.status_code == 202, resp.text
        assert (await wait_sent(user, resp.json()["id"]))["status"] == "sent"
    (to_zoe,) = await _received(mail_server, zoe)
    assert to_zoe["Subject"] == f"{company} × Sam Seller"
    # sender.email is the inbox the email goes out from
    assert (
        to_zoe.get_body(("plain",))
        .get_content()
        .replace("\r\n", "\n")
        .startswith(f"Hi Zoë,\nI am Sam Seller <{inbox['email']}>.")
    )
    (to_anon,) = await _received(mail_server, anon)
    assert to_anon["Subject"] == "Your team × Sam Seller"
    assert to_anon.get_body(("plain",)).get_content().startswith("Hi there,")
    assert "Hi there </p>" in to_anon.get_body(("html",)).get_content()


async def test_given_parts_override_the_template(app, mail_server, provider_smtp, mail_user):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    to = f"over-{mail_user.email}"
    mail_server.add_user(to, "pw")
    template = (await user.post("/api/v1/templates", TEMPLATE)).json()
    resp = await user.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": [to], "template_id": template["id"], "subject": "My own subject"},
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["subject"] == "My own subject" and resp.json()["text"].startswith("Hi there,")
    await wait_sent(user, resp.json()["id"])
    (msg,) = await _received(mail_server, to)
    assert msg["Subject"] == "My own subject"


async def test_a_missing_token_is_refused_before_anything_is_queued(
    app, mail_server, provider_smtp, mail_user
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    strict = (
        await user.post(
            "/api/v1/templates",
            {"name": "Strict", "subject": "For {{ deal.name }}", "text": "Dear {{ contact.first_name }}"},
        )
    ).json()
    contact = (await user.post("/api/v1/contacts", {"email": "noname@prospect.test"})).json()
    resp = await user.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": ["noname@prospect.test"], "template_id": strict["id"]},
    )
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "missing_token" and "{{ contact.first_name }}" in error["message"]
    assert "deal.name" in error["message"]  # the others are named too
    async with app.rt.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(emails)) == 0
        assert await conn.scalar(select(func.count()).select_from(outbox)) == 0

    preview = await user.post(f"/api/v1/templates/{strict['id']}/preview", {"contact_id": contact["id"]})
    assert preview.status_code == 422 and preview.json()["error"]["code"] == "missing_token"

    # for a contact with a name, and with a deal given, the same template renders
    contact = (
        await user.post("/api/v1/contacts", {"email": "chris@prospect.test", "name": "Chris Client"})
    ).json()
    deal = (await user.post("/api/v1/deals", {"name": "Q3 renewal", "contact_ids": [contact["id"]]})).json()
    ok = await user.post(
        f"/api/v1/templates/{strict['id']}/preview", {"contact_id": contact["id"], "deal_id": deal["id"]}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["subject"] == "For Q3 renewal" and ok.json()["text"] == "Dear Chris"

    async with app.rt.engine.connect() as conn:
        try:
            await render_for_contact(app.rt, conn, strict["id"], contact["id"], user.caller.user_id)
        except MissingToken as exc:
            assert exc.token == "deal.name"
        else:
            raise AssertionError("a template needing deal.name rendered without a deal")
        rendered = await render_for_contact(
            app.rt, conn, strict["id"], contact["id"], user.caller.user_id, deal_id=deal["id"]
        )
    assert (rendered.subject, rendered.text, rendered.html) == ("For Q3 renewal", "Dear Chris", None)


HOSTILE = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% include '/etc/passwd' %}",
    "{{ contact.email | attr('__class__') }}",
    "{{ config.items() }}",
]


async def test_templates_that_try_more_than_tokens_are_refused(app):
    user = await app.user("seller@crm.test")
    for source in HOSTILE:
        for part in ("subject", "text", "html"):
            body = {"name": "x", "subject": "s", "text": "t", part: source}
            resp = await user.post("/api/v1/templates", body)
            assert resp.status_code == 422, (source, part, resp.text)
            assert resp.json()["error"]["code"] == "template_invalid", resp.text
            assert resp.json()["error"]["field"] == part
    template = (await user.post("/api/v1/templates", {"name": "ok", "text": "{{ contact.email }}"})).json()
    changed = await user.put(f"/api/v1/templates/{template['id']}", {"text": HOSTILE[2]})
    assert changed.status_code == 422
    assert (await user.get(f"/api/v1/templates/{template['id']}")).json()["text"] == "{{ contact.email }}"
    assert [t["name"] for t in (await user.get("/api/v1/templates")).json()["items"]] == ["ok"]


async def test_templates_are_shared_by_a_team_and_hidden_from_others(
    app, mail_server, provider_smtp, mail_user
):
    owner, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    teammate = await app.user("mate@crm.test")
    outsider = await app.user("other@rival.test", team="rival")
    template = (await owner.post("/api/v1/templates", {"name": "Team", "text": "Hi"})).json()
    assert [t["id"] for t in (await teammate.get("/api/v1/templates")).json()["items"]] == [template["id"]]
    renamed = await teammate.put(f"/api/v1/templates/{template['id']}", {"name": "Team v2"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Team v2"

    assert (await outsider.get("/api/v1/templates")).json()["items"] == []
    url = f"/api/v1/templates/{template['id']}"
    assert (await outsider.get(url)).status_code == 404
    assert (await outsider.put(url, {"name": "mine"})).status_code == 404
    assert (await outsider.delete(url)).status_code == 404
    their_contact = (await outsider.post("/api/v1/contacts", {"email": "x@rival.test", "name": "X"})).json()
    assert (await outsider.post(f"{url}/preview", {"contact_id": their_contact["id"]})).status_code == 404
    our_contact = (await owner.post("/api/v1/contacts", {"email": "y@p.test", "name": "Y"})).json()
    # our template for their contact, their template for ours: not found either way
    assert (await owner.post(f"{url}/preview", {"contact_id": their_contact["id"]})).status_code == 404
    sent = await owner.post(
        "/api/v1/emails", {"inbox_id": inbox["id"], "to": ["y@p.test"], "template_id": 999999}
    )
    assert sent.status_code == 404 and sent.json()["error"]["code"] == "template_not_found"
    assert (await owner.post(f"{url}/preview", {"contact_id": our_contact["id"]})).json()["text"] == "Hi"

    assert (await owner.delete(url)).status_code == 204
    assert (await teammate.get(url)).status_code == 404
