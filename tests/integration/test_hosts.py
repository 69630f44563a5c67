"""Two hosts on one PostgreSQL, as in production: real `inboxlink serve` and `inboxlink worker`
processes with separate data directories (nothing shared but the database and the key). A reply
the worker logs has attachments `serve` reads byte for byte; credentials one encrypted the other
decrypts; a host with another key, or none, refuses to start and says what to do."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet

from tests.support.app import fresh_postgres_db, postgres_reachable
from tests.support.mail import inbox_body
from tests.support.replies import make_reply
from tests.support.serve import ServeProcess

CLIENT = "buyer@prospect.test"
REFUSAL = (
    "Set INBOXLINK_SECRET_KEY to the installation's key as on the first host (the key the other hosts use"
)


@pytest.fixture
def shared_db() -> Iterator[str]:
    if reason := postgres_reachable():
        pytest.skip(reason)
    with fresh_postgres_db() as url:
        yield url


def _host_env(data: Path, db: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXLINK_")}
    return {
        **env,
        "INBOXLINK_DATA_DIR": str(data),
        "INBOXLINK_DATABASE_URL": db,
        "INBOXLINK_BCC_SMTP": "off",
        "INBOXLINK_LEASE_TTL": "5",
        **extra,
    }


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inboxlink.cli", *args],
        input=stdin, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def _pdf(size: int) -> bytes:
    body = (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nstream\n"
        + secrets.token_bytes(size)
        + b"\nendstream\n"
    )
    return body + b"%%EOF\n"


def test_a_reply_logged_by_a_worker_on_host_b_is_served_byte_exact_by_host_a(
    tmp_path: Path, shared_db: str, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    host_a = ServeProcess(tmp_path / "a" / "data", mail_server.ca_file)
    host_a.env = _host_env(
        host_a.data, shared_db, SSL_CERT_FILE=mail_server.ca_file, INBOXLINK_HTTP=host_a.env["INBOXLINK_HTTP"]
    )
    made = host_a.cli("users", "create", "ops@acme.test", "--name", "Ops", stdin="a long password\n")
    assert made.returncode == 0, made.stderr
    token = host_a.cli("tokens", "create", "ops@acme.test").stdout.strip()
    api = httpx.Client(
        base_url=host_a.base + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        host_a.start()  # no INBOXLINK_SECRET_KEY: host A generates the installation's key
        inbox = api.post("/inboxes", json=inbox_body(mail_server, provider_smtp, mail_user)).json()
        sent = api.post(
            "/emails",
            json={"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "Offer", "text": "t"},
        ).json()
        _wait(lambda: api.get(f"/emails/{sent['id']}").json()["status"] == "sent", 30, "sent")
        assert host_a.kill(signal.SIGTERM) == 0  # from now on only host B's worker follows the inbox

        key = (host_a.data / "secret.key").read_text().strip()
        host_b = tmp_path / "b" / "data"
        env_b = _host_env(host_b, shared_db, SSL_CERT_FILE=mail_server.ca_file, INBOXLINK_SECRET_KEY=key)
        with (tmp_path / "b-worker.log").open("ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "inboxlink.cli", "worker"], env=env_b, stdout=log, stderr=log
            )
        pdf = _pdf(700_000)  # three chunks
        reply_id, raw = make_reply(
            sender=CLIENT, to=mail_user.email, subject="Re: Offer", text="signed copy attached",
            in_reply_to=sent["message_id"], attachments=[("signed offer.pdf", "application/pdf", pdf)],
        )  # fmt: skip
        mail_server.deliver(mail_user.email, raw)

        def logged() -> Any:
            # The worker decrypted host A's IMAP password to log in, and logged the reply.
            with psycopg.connect(shared_db) as conn:
                return conn.execute("SELECT id FROM emails WHERE message_id = %s", (reply_id,)).fetchone()

        _wait(logged, 60, "reply logged by host B's worker\n" + (tmp_path / "b-worker.log").read_text())
        host_a.start()
        contact = api.get("/contacts", params={"email": CLIENT}).json()["items"][0]["id"]
        reply = next(
            e for e in api.get(f"/contacts/{contact}/emails").json()["items"] if e["message_id"] == reply_id
        )
        assert reply["text"].strip() == "signed copy attached"  # sealed by B, unsealed by A
        [file] = api.get(f"/contacts/{contact}/attachments").json()["items"]
        resp = api.get(f"/attachments/{file['id']}")
        assert resp.status_code == 200 and resp.content == pdf
        assert resp.headers["content-type"] == "application/pdf"
        # Neither host kept the bytes on its own disk.
        assert _files_under(host_b / "attachments") == [] and _files_under(host_a.data / "attachments") == []
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=20)
        host_a.kill(signal.SIGTERM)


def test_a_host_with_another_key_or_none_refuses_to_start_and_says_what_to_do(
    tmp_path: Path, shared_db: str
) -> None:
    first = _run(_host_env(tmp_path / "a", shared_db), "keys", "status")  # records host A's key
    assert first.returncode == 0, first.stderr
    no_key = tmp_path / "b"
    refused = _run(_host_env(no_key, shared_db), "worker")
    assert refused.returncode == 2, refused.stderr
    assert REFUSAL in refused.stderr and "Traceback" not in refused.stderr
    assert "no INBOXLINK_SECRET_KEY" in refused.stderr
    assert not (no_key / "secret.key").exists()  # the key it would have made is not left behind
    other_key = Fernet.generate_key().decode()
    wrong = _run(_host_env(tmp_path / "c", shared_db, INBOXLINK_SECRET_KEY=other_key), "worker")
    assert wrong.returncode == 2 and "is not the installation's key" in wrong.stderr, wrong.stderr
    assert "Set INBOXLINK_SECRET_KEY to the installation's key" in wrong.stderr
    key = (tmp_path / "a" / "secret.key").read_text().strip()
    ok = _run(_host_env(no_key, shared_db, INBOXLINK_SECRET_KEY=key), "keys", "status")
    assert ok.returncode == 0 and "current, held by this process" in ok.stdout, ok.stderr
