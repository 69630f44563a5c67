"""A bounce that comes back before our send has finished (the provider accepted the message and its
DSN reached the INBOX while we still waited for the 250, or were saving the Sent copy): the email
stays `bounced` with the report's reason — the send finishing afterwards does not turn it back
into `sent`, and integrations do not get an `email.sent` after the `email.failed`."""

from __future__ import annotations

import asyncio
import threading
from email.parser import BytesHeaderParser
from typing import Any

from tests.integration.conftest import CLIENT
from tests.support.app import wait_for
from tests.support.flows import connect, monitor_connected
from tests.support.replies import dsn_for


async def test_a_bounce_before_the_send_finished_stays_bounced(app, mail_server, provider_smtp, mail_user):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    answer = threading.Event()

    def bounce_first(data: bytes) -> None:  # the provider's relay thread, before it answers 250
        message_id = str(BytesHeaderParser().parsebytes(data)["Message-ID"]).strip("<> ")
        mail_server.deliver(mail_user.email, dsn_for(message_id, mail_user.email, CLIENT))
        answer.wait(30)

    provider_smtp.before_answer = bounce_first
    try:
        resp = await user.post(
            "/api/v1/emails",
            {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "Our offer", "text": "Hi"},
        )
        assert resp.status_code == 202, resp.text
        email_id = resp.json()["id"]

        async def bounced() -> dict[str, Any] | None:
            e = (await user.get(f"/api/v1/emails/{email_id}")).json()
            return e if e["status"] == "bounced" else None

        await wait_for(bounced, timeout=20)  # recorded while the SMTP client still waits
    finally:
        answer.set()
        provider_smtp.before_answer = None

    async def send_finished() -> bool:
        async with app.rt.engine.connect() as conn:
            state = (
                await conn.exec_driver_sql("SELECT state FROM outbox WHERE email_id = ?", (email_id,))
            ).scalar()
        return state == "done"

    await wait_for(send_finished, timeout=20)
    await asyncio.sleep(0.2)  # anything the finish publishes after its commit
    email = (await user.get(f"/api/v1/emails/{email_id}")).json()
    assert email["status"] == "bounced" and email["error"]["code"] == "bounced"
    assert "User unknown" in email["error"]["message"]
    feed = (await user.get("/api/v1/events")).json()["items"]
    mine = [e["type"] for e in feed if e["data"].get("id") == email_id]
    assert mine == ["email.failed"]
