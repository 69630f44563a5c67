"""`inboxlink serve` killed with -9 between an event and its delivery: the event and its pending
delivery are rows, so the delivery goes out after the restart, with the same webhook-id."""

from __future__ import annotations

import signal
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from tests.support.receiver import Receiver
from tests.support.serve import ServeProcess


def _wait(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s")


def test_delivered_after_a_kill_minus_9(tmp_path: Path, mail_server: Any, receiver: Receiver) -> None:
    serve = ServeProcess(tmp_path / "data", mail_server.ca_file)
    serve.env.update(
        INBOXLINK_WEBHOOK_ALLOW_PRIVATE="true",
        INBOXLINK_WEBHOOK_RETRY_BASE="0.3",
        INBOXLINK_JOBS_POLL="0.1",
        INBOXLINK_JOBS_LEASE="2",
    )
    try:
        assert (
            serve.cli("users", "create", "ops@acme.test", "--admin", stdin="a long password\n").returncode
            == 0
        )
        token = serve.cli("tokens", "create", "ops@acme.test").stdout.strip()
        serve.start()
        api = httpx.Client(
            base_url=serve.base + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        hook = api.post("/webhooks", json={"url": receiver.url, "events": ["email.logged"]}).json()
        receiver.default = 500  # the receiver is down: the delivery stays pending
        me = api.get("/me").json()
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "ops@acme.test", "client@prospect.test", "Logged by BCC"
        msg["Bcc"] = me["bcc_address"]
        msg.set_content("hello")
        bcc_port = int(serve.env["INBOXLINK_BCC_SMTP"].rsplit(":", 1)[1])
        with smtplib.SMTP("127.0.0.1", bcc_port, timeout=20) as client:
            client.sendmail("ops@acme.test", [me["bcc_address"]], msg.as_bytes(policy=SMTP))
        _wait(lambda: receiver.requests, 20)
        assert serve.kill(signal.SIGKILL) == -signal.SIGKILL
        receiver.default = 200
        tried_before = len(receiver.requests)
        serve.start()
        _wait(lambda: any(r.answered == 200 for r in receiver.requests), 30)
        ids = {r.headers["webhook-id"] for r in receiver.requests}
        assert len(ids) == 1 and tried_before >= 1
        assert [r.answered for r in receiver.requests].count(200) == 1
        payload = Webhook(hook["secret"]).verify(receiver.requests[-1].body, receiver.requests[-1].headers)
        assert payload["type"] == "email.logged" and payload["data"]["subject"] == "Logged by BCC"
        (delivery,) = api.get(f"/webhooks/{hook['id']}/deliveries").json()["items"]
        assert delivery["status"] == "delivered"
    finally:
        serve.kill()
    assert "Traceback" not in serve.log.read_text()
