"""Web sessions end on the server: after signing out, a copy of the old session cookie is refused."""

from __future__ import annotations

import re

from tests.support import app as support_app


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def test_signing_out_ends_the_session_everywhere(app: support_app.TestApp) -> None:
    await app.user("web@acme.test")
    client = app.client
    page = await client.get("/login")
    resp = await client.post(
        "/login",
        data={"email": "web@acme.test", "password": "correct horse battery", "csrf_token": _csrf(page.text)},
    )
    assert resp.status_code == 303
    stolen = dict(client.cookies)  # e.g. a copy taken from another device
    contacts = await client.get("/contacts")
    assert contacts.status_code == 200
    resp = await client.post("/logout", data={"csrf_token": _csrf(contacts.text)})
    assert resp.status_code == 303
    client.cookies.clear()
    for name, value in stolen.items():
        client.cookies.set(name, value)
    replay = await client.get("/contacts")
    assert replay.status_code in (302, 303, 307) and "/login" in replay.headers["location"]
    # Signing in again works and gives a fresh, valid session.
    page = await client.get("/login")
    resp = await client.post(
        "/login",
        data={"email": "web@acme.test", "password": "correct horse battery", "csrf_token": _csrf(page.text)},
    )
    assert resp.status_code == 303 and (await client.get("/contacts")).status_code == 200
