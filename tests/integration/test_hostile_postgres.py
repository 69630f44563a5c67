"""Hostile header sizes on PostgreSQL, which (unlike SQLite) enforces column sizes: a reply with an
oversized display name, sender address, filename and content type is still logged, and the monitor
goes on to log the next one (no poison message)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import CLIENT
from tests.support.app import fresh_postgres_db, postgres_reachable, running_app
from tests.support.flows import inbound, start_conversation
from tests.support.replies import make_reply


@pytest.fixture
def pg_url():
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    with fresh_postgres_db() as url:
        yield url


async def test_oversized_header_values_do_not_block_the_inbox(
    pg_url, tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    async with running_app(tmp_path / "data", pg_url) as app:
        user, _inbox, sent = await start_conversation(
            app, mail_server, provider_smtp, mail_user, to=CLIENT, subject="Big", text="t"
        )
        long_name = "N" * 600
        long_sender = "x" * 400 + "@prospect.test"
        raw = (
            f'From: "{long_name}" <{long_sender}>\r\nTo: {mail_user.email}\r\nCc: {"c" * 300}@prospect.test\r\n'
            f"Subject: Re: Big {'s' * 3000}\r\nMessage-ID: <huge-1@prospect.test>\r\nIn-Reply-To: <{sent['message_id']}>\r\n"
            'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
            f'--b\r\nContent-Type: application/{"y" * 400}\r\nContent-Disposition: attachment; filename="{"f" * 400}.txt"\r\n\r\ndata\r\n--b--\r\n'
        ).encode()
        mail_server.deliver(mail_user.email, raw)
        _id, after = make_reply(
            sender=CLIENT,
            to=mail_user.email,
            subject="Re: Big",
            text="next one",
            in_reply_to=sent["message_id"],
        )
        mail_server.deliver(mail_user.email, after)
        found = await inbound(user, sent["contact_ids"][0], count=2, timeout=30)
        by_id = {e["message_id"]: e for e in found}
        assert "next one" in by_id[_id]["text"]
        huge = by_id["huge-1@prospect.test"]
        assert huge["from"]["email"].startswith("xxx") and len(huge["attachments"]) == 1
