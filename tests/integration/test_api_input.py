"""Bad input through the API and the web: the contract's error shape with the field and a sentence,
never a 500 — ids and offsets beyond what the database holds, lone surrogates, non-JSON bodies —
and the headers every response carries."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support import app as support

TOO_BIG = 2**63  # one past the largest signed 64-bit integer: SQLite raised OverflowError


async def post_json(user: support.TestUser, url: str, body: Any) -> Any:
    # Escaped JSON ("\ud800"), as any client library writes it: a lone surrogate is legal JSON text.
    return await user.client.post(
        url,
        content=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"},
    )


def refusal(resp: Any, status: int = 422) -> dict[str, str]:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert re.fullmatch(r"[a-z_]+", error["code"]) and error["message"].endswith("."), error
    return error


API_URLS = [
    f"/api/v1/contacts/{TOO_BIG}",
    f"/api/v1/contacts/{TOO_BIG}/emails",
    f"/api/v1/contacts/{TOO_BIG}/attachments",
    f"/api/v1/emails/{TOO_BIG}",
    f"/api/v1/emails/{TOO_BIG}/moves",
    f"/api/v1/threads/{TOO_BIG}",
    f"/api/v1/inboxes/{TOO_BIG}",
    f"/api/v1/attachments/{TOO_BIG}",
    f"/api/v1/contacts/{-TOO_BIG - 1}",
    f"/api/v1/contacts?offset={TOO_BIG}",
    f"/api/v1/contacts?offset={10**30}",
]


async def test_ids_and_offsets_beyond_64_bits_are_a_422(app: support.TestApp) -> None:
    user = await app.user("big@crm.test")
    for url in API_URLS:
        error = refusal(await user.get(url))
        assert error["code"] == "invalid_field", url
        assert error["field"] in {
            "contact_id",
            "email_id",
            "thread_id",
            "inbox_id",
            "attachment_id",
            "offset",
        }
        assert error["field"] in error["message"]


async def test_ids_beyond_64_bits_in_bodies_are_a_422(app: support.TestApp) -> None:
    user = await app.user("big-body@crm.test")
    cases = [
        ("/api/v1/emails", {"inbox_id": TOO_BIG, "to": [{"email": "a@b.test"}], "text": "t"}, "inbox_id"),
        ("/api/v1/emails/1/relink", {"contact_id": TOO_BIG}, "contact_id"),
        ("/api/v1/emails/1/relink", {"thread_id": TOO_BIG}, "thread_id"),
    ]
    for url, body, field in cases:
        error = refusal(await post_json(user, url, body))
        assert error["field"] == field, error
    assert refusal(await user.delete(f"/api/v1/inboxes/{TOO_BIG}"))["field"] == "inbox_id"


SURROGATE_CASES = [
    ("/api/v1/contacts", {"email": "ann@prospect.test", "name": "Ann \ud800"}, "name"),
    ("/api/v1/contacts", {"email": "ann@prospect.test", "company": "\udfffAcme"}, "company"),
    ("/api/v1/contacts", {"email": "\ud800@prospect.test"}, "email"),
    (
        "/api/v1/inboxes",
        {
            "email": "me@example.test",
            "username": "me\ud800",
            "password": "pw",
            "imap": {"host": "127.0.0.1", "port": 1},
            "smtp": {"host": "127.0.0.1", "port": 1},
        },
        "username",
    ),
    (
        "/api/v1/inboxes",
        {
            "email": "me@example.test",
            "password": "secret\ud800",
            "imap": {"host": "127.0.0.1", "port": 1},
            "smtp": {"host": "127.0.0.1", "port": 1},
        },
        "password",
    ),
    ("/api/v1/inboxes/1/credentials", {"password": "\ud800"}, "password"),
    ("/api/v1/emails", {"inbox_id": 1, "to": [{"email": "a@b.test", "name": "\ud83d"}]}, "to[0].name"),
    ("/api/v1/emails", {"inbox_id": 1, "to": ["a@b.test"], "subject": "\ud800"}, "subject"),
    ("/api/v1/emails", {"inbox_id": 1, "to": ["a@b.test"], "text": "body \ud800"}, "text"),
]


async def test_lone_surrogates_are_a_422(app: support.TestApp) -> None:
    user = await app.user("surrogate@crm.test")
    for url, body, field in SURROGATE_CASES:
        method = user.client.put if url.endswith("/credentials") else user.client.post
        resp = await method(
            url,
            content=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"},
        )
        error = refusal(resp)
        assert error == {
            "code": "invalid_text",
            "field": field,
            "message": f"{field} contains a character that is not valid Unicode (a lone surrogate); remove it.",
        }
    assert (await user.get("/api/v1/contacts")).json()["items"] == []  # nothing was stored


async def test_type_errors_name_the_field_in_a_sentence(app: support.TestApp) -> None:
    user = await app.user("types@crm.test")
    cases = [
        (
            {"inbox_id": "1", "to": ["a@b.test"]},
            "invalid_field",
            "inbox_id",
            "inbox_id must be a whole number.",
        ),
        (
            {"inbox_id": True, "to": ["a@b.test"]},
            "invalid_field",
            "inbox_id",
            "inbox_id must be a whole number.",
        ),
        ({"to": ["a@b.test"]}, "field_required", "inbox_id", "inbox_id is required."),
        ({"inbox_id": 1, "to": "a@b.test"}, "invalid_field", "to", "to must be a list."),
        ({"inbox_id": 1, "to": ["a@b.test", 7]}, "invalid_field", "to[1]", "to[1] must be an object."),
        (
            {"inbox_id": 1, "to": [{"email": "a@b.test", "name": "x" * 201}]},
            "field_too_long",
            "to[0].name",
            "to[0].name is longer than 200 characters.",
        ),
        (
            {"inbox_id": 1, "to": ["a@b.test"], "attachments": [{"filename": "a"}]},
            "field_required",
            "attachments[0].content_base64",
            "attachments[0].content_base64 is required.",
        ),
    ]
    for body, code, field, message in cases:
        assert refusal(await post_json(user, "/api/v1/emails", body)) == {
            "code": code,
            "field": field,
            "message": message,
        }
    relink = refusal(await post_json(user, "/api/v1/emails/1/relink", {"thread_id": "old"}))
    assert relink["message"] == 'thread_id must be a thread id or "new".'
    port = refusal(
        await post_json(
            user,
            "/api/v1/inboxes",
            {
                "email": "a@b.test",
                "password": "p",
                "imap": {"host": "h", "port": 0},
                "smtp": {"host": "h", "port": 1},
            },
        )
    )
    assert port == {"code": "invalid_field", "field": "imap.port", "message": "imap.port must be at least 1."}
    security = refusal(
        await post_json(
            user,
            "/api/v1/inboxes",
            {
                "email": "a@b.test",
                "password": "p",
                "imap": {"host": "h", "port": 993, "security": "ssl"},
                "smtp": {"host": "h", "port": 1},
            },
        )
    )
    assert security["field"] == "imap.security" and "'tls', 'starttls' or 'none'" in security["message"]


async def test_bodies_that_are_not_json_objects(app: support.TestApp) -> None:
    user = await app.user("json@crm.test")
    auth = {"Authorization": f"Bearer {user.token}"}
    for raw in (b"{not json", b"\xff\xfe\x00{", b'{"email": "a@b.test"'):
        error = refusal(await user.client.post("/api/v1/contacts", content=raw, headers=auth))
        assert error["code"] == "invalid_json" and error["message"].startswith(
            "The request body is not valid JSON"
        )
    for raw in (b"[]", b'"a@b.test"', b"null", b""):
        error = refusal(await user.client.post("/api/v1/contacts", content=raw, headers=auth))
        assert error == {"code": "invalid_json", "message": "The request body must be a JSON object."}


async def test_every_response_forbids_framing(app: support.TestApp) -> None:
    user = await app.user("frames@crm.test")
    answers = [
        await app.client.get("/login"),  # a page
        await app.client.get("/static/app.css"),
        await app.client.get("/api/v1/me"),  # 401
        await user.get("/api/v1/me"),
        await user.get("/api/v1/contacts/12345"),  # 404
        await app.client.get("/api/openapi.json"),
        await app.client.post("/login", content=b"x" * 70_000),  # refused by the body limit
    ]
    assert [a.headers.get("x-frame-options") for a in answers] == ["DENY"] * len(answers)
    assert "frame-ancestors 'none'" in answers[0].headers["content-security-policy"]


async def test_views_keep_every_field_the_services_give(app: support.TestApp) -> None:
    user = await app.user("views@crm.test", name="Vi Ews")
    me = (await user.get("/api/v1/me")).json()
    assert set(me) == {"id", "email", "name", "team_id", "is_admin", "bcc_address"}
    created = (
        await user.post("/api/v1/contacts", {"email": "v@prospect.test", "name": "V", "company": "Co"})
    ).json()
    assert set(created) == {"id", "email", "name", "company", "company_id", "created_at"}
    listed = (await user.get("/api/v1/contacts")).json()
    # Lists also say when the contact was last active and last replied (issue 14).
    assert listed == {"items": [{**created, "last_activity_at": None, "last_reply_at": None}], "total": 1}
    assert (await user.get(f"/api/v1/contacts/{created['id']}/emails")).json() == {
        "items": [],
        "next_cursor": None,
    }


# ---- the web UI: the same bounds on its paths, queries and forms ----


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def _signed_in(app: support.TestApp, email: str) -> str:
    await app.user(email)
    page = await app.client.get("/login")
    resp = await app.client.post(
        "/login", data={"email": email, "password": "correct horse battery", "csrf_token": _csrf(page.text)}
    )
    assert resp.status_code == 303, resp.text
    return _csrf((await app.client.get("/contacts")).text)


WEB_URLS = [
    f"/contacts/{TOO_BIG}",
    f"/contacts/{TOO_BIG}/timeline",
    f"/contacts?page={TOO_BIG // 25 + 1}",  # the page's offset would pass 2^63
    f"/attachments/{TOO_BIG}",
    f"/emails/{TOO_BIG}/status",
    f"/settings/inboxes/{TOO_BIG}/remove",
    f"/contacts/1?reply={TOO_BIG}",
]


async def test_web_paths_beyond_64_bits_are_a_422(app: support.TestApp) -> None:
    await _signed_in(app, "web-big@crm.test")
    for url in WEB_URLS:
        error = refusal(await app.client.get(url))
        assert error["code"] == "invalid_field", url


async def test_web_forms_with_huge_or_odd_numbers_are_answered(app: support.TestApp) -> None:
    csrf = await _signed_in(app, "web-form@crm.test")
    contact = await app.client.post("/contacts", data={"email": "f@prospect.test", "csrf_token": csrf})
    assert contact.status_code == 303
    record = contact.headers["location"]
    for inbox_id, parent_id in [(str(TOO_BIG), ""), ("²", ""), ("1", str(TOO_BIG)), ("1", "³")]:
        resp = await app.client.post(
            f"{record}/send",
            data={"csrf_token": csrf, "inbox_id": inbox_id, "to": "f@prospect.test", "text": "t",
                  "in_reply_to_email_id": parent_id},
            headers={"X-Requested-With": "fetch"},
        )  # fmt: skip
        assert resp.status_code in (404, 422), (inbox_id, parent_id, resp.text)
        assert resp.json()["error"]["message"]
    resp = await app.client.post(
        f"/settings/inboxes/{TOO_BIG}/password", data={"csrf_token": csrf, "password": "x"}
    )
    assert refusal(resp)["field"] == "inbox_id"
    resp = await app.client.post(
        "/settings/inboxes",
        data={"csrf_token": csrf, "email": "m@example.test", "password": "p", "imap_host": "127.0.0.1",
              "imap_port": "⁹⁹³", "smtp_host": "127.0.0.1", "smtp_port": "1"},
    )  # fmt: skip
    assert resp.status_code == 422 and "Enter a port number" in resp.text


async def test_web_forms_cannot_smuggle_surrogates(app: support.TestApp) -> None:
    # Form bodies are bytes: the UTF-8-style encoding of a surrogate (ED A0 80) is not UTF-8, so it
    # arrives replaced, never as a lone surrogate; the contact is stored, nothing fails.
    csrf = await _signed_in(app, "web-text@crm.test")
    resp = await app.client.post(
        "/contacts",
        content=f"email=s%40prospect.test&name=Ann%ED%A0%80&company=%ED%A0%80Co&csrf_token={csrf}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 303, resp.text
    page = await app.client.get(resp.headers["location"])
    assert page.status_code == 200 and "Ann\ufffd" in page.text
