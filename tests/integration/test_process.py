"""The real command line and the real `inboxlink serve` process: users/tokens/status commands, a
kill -9 in the middle of a burst of replies, and a prompt exit on SIGTERM."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.mail import inbox_body
from tests.support.replies import make_reply
from tests.support.serve import ServeProcess

CLIENT = "burst-client@prospect.test"


@pytest.fixture
def serve(tmp_path: Path, mail_server) -> Iterator[ServeProcess]:
    server = ServeProcess(tmp_path / "data", mail_server.ca_file)
    yield server
    server.kill()


def _wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s")


def test_commands_and_a_kill_minus_9_during_a_burst(
    serve: ServeProcess, mail_server, provider_smtp, mail_user
) -> None:
    made = serve.cli("users", "create", "ops@acme.test", "--name", "Ops", stdin="a long password\n")
    assert made.returncode == 0, made.stderr
    token = serve.cli("tokens", "create", "ops@acme.test")
    assert token.returncode == 0 and len(token.stdout.splitlines()) == 1
    bad = serve.cli("tokens", "create", "nobody@acme.test")
    assert bad.returncode != 0 and "user" in bad.stderr.lower()
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}

    serve.start()
    api = httpx.Client(base_url=serve.base + "/api/v1", headers=headers, timeout=10)
    inbox = api.post("/inboxes", json=inbox_body(mail_server, provider_smtp, mail_user)).json()
    email = api.post(
        "/emails", json={"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "Burst", "text": "t"}
    ).json()
    _wait(lambda: api.get(f"/emails/{email['id']}").json()["status"] == "sent", 30)
    contact_id = api.get("/contacts", params={"email": CLIENT}).json()["items"][0]["id"]

    def inbound() -> list[dict]:
        return [
            e
            for e in api.get(f"/contacts/{contact_id}/emails").json()["items"]
            if e["direction"] == "inbound"
        ]

    ids = []
    for i in range(20):
        if i == 10:
            _wait(lambda: len(inbound()) >= 3, 30)  # mid-burst, with work under way
            assert serve.kill(signal.SIGKILL) == -signal.SIGKILL
        mid, raw = make_reply(
            sender=CLIENT,
            to=mail_user.email,
            subject=f"Re: Burst {i}",
            text=f"reply {i}",
            in_reply_to=email["message_id"],
        )
        ids.append(mid)
        mail_server.deliver(mail_user.email, raw)
    serve.start()
    _wait(lambda: len(inbound()) >= 20, 60)
    time.sleep(1)  # a moment for any duplicate to show up before counting
    logged = inbound()
    assert sorted(e["message_id"] for e in logged) == sorted(ids)  # all 20, each exactly once

    revoked = serve.cli("tokens", "revoke", "ops@acme.test")
    assert revoked.returncode == 0 and "revoked 1" in revoked.stderr
    assert api.get("/me").status_code == 401  # a revoked token is refused at once

    status = serve.cli("status")
    assert status.returncode == 0
    assert mail_user.email in status.stdout and "connected" in status.stdout

    started = time.monotonic()
    assert serve.kill(signal.SIGTERM, within=10) == 0  # the promise: a clean exit within 10 s
    print(f"SIGTERM → exit in {time.monotonic() - started:.2f}s")
    assert "Traceback" not in serve.log.read_text()
