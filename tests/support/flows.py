"""Steps many tests share: connect an inbox through the API, wait for a send, wait for replies."""

from __future__ import annotations

from typing import Any

from tests.support.app import TestApp, TestUser, wait_for
from tests.support.mail import inbox_body


async def connect(
    app: TestApp, mail_server: Any, provider_smtp: Any, account: Any, login: str = "seller@crm.test"
) -> tuple[TestUser, dict[str, Any]]:
    user = await app.user(login)
    resp = await user.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, account))
    assert resp.status_code == 201, resp.text
    return user, resp.json()


async def wait_sent(user: TestUser, email_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        body = (await user.get(f"/api/v1/emails/{email_id}")).json()
        return body if body["status"] in {"sent", "failed"} else None

    result: dict[str, Any] = await wait_for(done, timeout=30)
    return result


async def monitor_connected(app: TestApp, inbox_id: int) -> bool:
    monitor = app.monitor(inbox_id)
    return monitor is not None and monitor.connected.is_set()


async def inbound(
    user: TestUser, contact_id: int, count: int = 1, timeout: float = 20
) -> list[dict[str, Any]]:
    """The contact's inbound emails once there are at least `count` of them."""

    async def check() -> list[dict[str, Any]] | None:
        items = (await user.get(f"/api/v1/contacts/{contact_id}/emails")).json()["items"]
        found = [e for e in items if e["direction"] == "inbound"]
        return found if len(found) >= count else None

    result: list[dict[str, Any]] = await wait_for(check, timeout=timeout)
    return result


async def start_conversation(
    app: TestApp,
    mail_server: Any,
    provider_smtp: Any,
    account: Any,
    *,
    to: str,
    subject: str,
    text: str = "t",
) -> tuple[TestUser, dict[str, Any], dict[str, Any]]:
    """A connected inbox, one email sent from the CRM to `to`, and its monitor up: (user, inbox, email)."""
    user, inbox = await connect(app, mail_server, provider_smtp, account)
    resp = await user.post(
        "/api/v1/emails", {"inbox_id": inbox["id"], "to": [{"email": to}], "subject": subject, "text": text}
    )
    sent = await wait_sent(user, resp.json()["id"])
    assert sent["status"] == "sent", sent["error"]
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    return user, inbox, sent
