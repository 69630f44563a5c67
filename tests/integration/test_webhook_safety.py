"""Webhook requests are safe for the receiver and for us (issue 17): only https, no private or
loopback addresses (checked again at send time, also after DNS rebinding), no redirects followed,
answers read only up to a limit, no secrets but the signature."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from inboxlink.services.accounts import (
    webhook_delivery,  # noqa: F401  (registers the job handler)
)
from inboxlink.services.accounts.users import create_token
from inboxlink.services.platform import events
from tests.peers.dns import DnsServer, dnsmasq_binary
from tests.support.app import TestApp as LiveApp
from tests.support.app import TestUser as ApiUser
from tests.support.app import running_app, wait_for
from tests.support.flows import start_conversation
from tests.support.receiver import Receiver, start_receiver
from tests.support.replies import deliver_reply
from tests.support.webhooks import (
    FAST,
    admin,
    deliveries_of,
    jobs_running,
    received_at_least,
    record,
    subscribe,
    verified,
)


async def test_reply_in_inbox_gives_one_signed_email_logged_only_to_its_team(
    hooked_app: LiveApp, mail_server: Any, provider_smtp: Any, mail_user: Any, receiver: Receiver
) -> None:
    app = hooked_app
    boss = await admin(app, "boss@crm.test")
    hook = await subscribe(boss, receiver.url, ["email.logged"])
    assert hook["secret"].startswith("whsec_") and set(hook) >= {"id", "url", "events", "secret"}
    assert "secret" not in (await boss.get(f"/api/v1/webhooks/{hook['id']}")).json()
    other_receiver = start_receiver()
    try:
        rival = await admin(app, "boss@rival.test", team="rival")
        await subscribe(rival, other_receiver.url, list(events.EVENT_TYPES))
        sent_receiver = start_receiver()
        sent_hook = await subscribe(boss, sent_receiver.url, ["email.sent"])
        _user, _inbox, sent = await start_conversation(
            app, mail_server, provider_smtp, mail_user, to="client@prospect.test", subject="Our offer"
        )
        deliver_reply(mail_server, mail_user.email, "client@prospect.test", sent["message_id"], "Yes please")
        await wait_for(lambda: received_at_least(receiver, 1), timeout=30)
        got = receiver.requests[0]
        payload = verified(hook["secret"], got)
        assert payload["type"] == "email.logged"
        assert payload["data"]["direction"] == "inbound" and "Yes please" in payload["data"]["text"]
        assert got.headers["webhook-id"].startswith("evt_")
        await asyncio.sleep(1.0)  # anything extra would have arrived by now
        assert len(receiver.requests) == 1
        assert other_receiver.requests == []  # the rival team's endpoint hears nothing of ours
        deliveries = (await boss.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
        assert [(d["type"], d["status"], d["attempts"]) for d in deliveries] == [
            ("email.logged", "delivered", 1)
        ]
        feed = (await rival.get("/api/v1/events")).json()
        assert feed["items"] == []
        await wait_for(lambda: received_at_least(sent_receiver, 1))
        sent_payload = verified(sent_hook["secret"], sent_receiver.requests[0])
        assert sent_payload["type"] == "email.sent" and sent_payload["data"]["id"] == sent["id"]
        assert sent_payload["data"]["status"] == "sent" and len(sent_receiver.requests) == 1
        sent_receiver.close()
    finally:
        other_receiver.close()


async def test_private_and_plain_urls_are_refused_by_default(app: LiveApp) -> None:
    boss = await admin(app, "boss@crm.test")
    for url, code in [
        ("https://127.0.0.1/hooks", "private_address_refused"),
        ("https://localhost:8443/x", "private_address_refused"),
        ("https://10.1.2.3/x", "private_address_refused"),
        ("https://[fe80::1]/x", "private_address_refused"),
        ("http://example.com/x", "invalid_url"),
        ("ftp://example.com/x", "invalid_url"),
    ]:
        resp = await boss.post("/api/v1/webhooks", {"url": url, "events": ["email.sent"]})
        assert resp.status_code == 422, (url, resp.text)
        assert resp.json()["error"]["code"] == code, url
    bad = await boss.post("/api/v1/webhooks", {"url": "https://example.com/x", "events": ["email.exploded"]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_field"
    seller = await app.user("seller@crm.test")
    refused = await seller.post(
        "/api/v1/webhooks", {"url": "https://example.com/x", "events": ["email.sent"]}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_private_address_checked_again_at_send_time(tmp_path: Path, receiver: Receiver) -> None:
    """Created while private targets were allowed, sent after they no longer are (same data):
    the delivery is refused, never posted."""
    data = tmp_path / "data"
    async with running_app(data, worker=False, **FAST) as app:
        boss = await admin(app, "boss@crm.test")
        hook = await subscribe(boss, receiver.url, ["email.sent"])
    strict = {**FAST, "INBOXLINK_WEBHOOK_ALLOW_PRIVATE": "false"}
    async with running_app(data, worker=False, **strict) as app, jobs_running(app):
        await record(app, boss.caller.team_id, "email.sent", {"id": 1})
        token = await create_token(app.rt, "boss@crm.test")
        user = ApiUser(boss.caller, token, app.client)

        async def tried() -> list[dict[str, Any]] | None:
            items = await deliveries_of(user, hook["id"])
            return items if items and items[0]["attempts"] else None

        (refused,) = await wait_for(tried)
        # Plain http to loopback: refused by the send-time check like at creation.
        assert refused["last_status_code"] is None and "https" in refused["last_error"]
    assert receiver.requests == []


async def test_https_receiver_by_name_with_a_verified_certificate(
    hooked_app: LiveApp, mail_server: Any
) -> None:
    """https://localhost:PORT: resolved and checked, connected to by address, TLS verified for the name."""
    secure = start_receiver(tls=(mail_server.ca_file, mail_server.key_file))
    try:
        boss = await admin(hooked_app, "boss@crm.test")
        hook = await subscribe(boss, secure.url, ["email.sent"])
        await record(hooked_app, boss.caller.team_id, "email.sent", {"id": 3})
        await wait_for(lambda: received_at_least(secure, 1))
        got = secure.requests[0]
        assert got.headers["host"] == f"localhost:{secure.server.server_address[1]}"
        assert verified(hook["secret"], got)["data"] == {"id": 3}
    finally:
        secure.close()


async def test_a_redirect_is_not_followed(hooked_app: LiveApp, receiver: Receiver) -> None:
    """A 307 to another address is an unsuccessful answer: retried to the same URL, and the
    address it points to hears nothing (a redirect must not lead the sender around the address
    rule)."""
    elsewhere = start_receiver()
    try:
        boss = await admin(hooked_app, "boss@crm.test")
        hook = await subscribe(boss, receiver.url, ["email.sent"])
        receiver.default, receiver.location = 307, elsewhere.url
        await record(hooked_app, boss.caller.team_id, "email.sent", {"id": 4})
        await wait_for(lambda: received_at_least(receiver, 2), timeout=20)  # the first attempt and a retry
        (pending,) = await deliveries_of(boss, hook["id"])
        assert pending["status"] == "pending" and pending["last_status_code"] == 307
        assert pending["last_error"] == "the receiver answered HTTP 307"
        assert elsewhere.requests == []
    finally:
        elsewhere.close()


async def test_an_endless_answer_is_read_only_up_to_the_limit(
    hooked_app: LiveApp, receiver: Receiver
) -> None:
    """A receiver that streams a body without end: the sender reads a few KiB, takes the 200,
    hangs up, and the delivery is delivered (without the limit it would read for ever: the 10 s
    timeout is per read, and this receiver never pauses)."""
    boss = await admin(hooked_app, "boss@crm.test")
    hook = await subscribe(boss, receiver.url, ["email.sent"])
    receiver.endless_body = True
    await record(hooked_app, boss.caller.team_id, "email.sent", {"id": 8})

    async def delivered() -> bool:
        items = await deliveries_of(boss, hook["id"])
        return bool(items) and items[0]["status"] == "delivered"

    await wait_for(delivered, timeout=20)
    assert len(receiver.requests) == 1
    sent_then = receiver.body_bytes_sent
    await asyncio.sleep(0.5)
    assert receiver.body_bytes_sent == sent_then  # the connection is closed: nothing more flows
    assert sent_then < 16 * 1024 * 1024  # at most socket buffers' worth ever left the receiver


async def test_a_delivery_carries_only_the_signature_headers(hooked_app: LiveApp, receiver: Receiver) -> None:
    boss = await admin(hooked_app, "boss@crm.test")
    hook = await subscribe(boss, receiver.url, ["email.sent"])
    await record(hooked_app, boss.caller.team_id, "email.sent", {"id": 6})
    await wait_for(lambda: received_at_least(receiver, 1))
    got = receiver.requests[0]
    assert set(got.headers) <= {
        "host",
        "accept",
        "accept-encoding",
        "connection",
        "user-agent",
        "content-type",
        "content-length",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }, got.headers
    assert hook["secret"] not in json.dumps(got.headers) + got.body.decode()


@pytest.mark.skipif(dnsmasq_binary() is None, reason="dnsmasq is not installed")
async def test_a_name_rebound_to_loopback_is_refused_at_send_time(tmp_path: Path, receiver: Receiver) -> None:
    """DNS rebinding, with a real DNS server (dnsmasq on loopback, INBOXLINK_DNS_SERVERS): the name
    pointed to a public address when the webhook was created, and to this server when the event is
    sent. The send-time check refuses it; nothing reaches the receiver listening there."""
    port = receiver.server.server_address[1]
    dns = DnsServer(
        tmp_path / "dns",
        ["rebind.test"],
        {},
        hosts={"hooks.rebind.test": "93.184.215.14", "inside.rebind.test": "127.0.0.1"},
    )
    dns.start()
    try:
        env = {
            **FAST,
            "INBOXLINK_WEBHOOK_ALLOW_PRIVATE": "false",
            "INBOXLINK_DNS_SERVERS": dns.address,
        }
        async with running_app(tmp_path / "data", worker=False, **env) as app:
            boss = await admin(app, "boss@crm.test")
            inside = await boss.post(
                "/api/v1/webhooks",
                {"url": f"https://inside.rebind.test:{port}/hooks", "events": ["email.sent"]},
            )
            assert inside.status_code == 422  # resolved by the same servers at creation
            assert inside.json()["error"]["code"] == "private_address_refused"
            hook = await subscribe(boss, f"https://hooks.rebind.test:{port}/hooks", ["email.sent"])
            dns.rebind({"hooks.rebind.test": "127.0.0.1"})
            await record(app, boss.caller.team_id, "email.sent", {"id": 1})
            async with jobs_running(app):

                async def tried() -> list[dict[str, Any]] | None:
                    items = await deliveries_of(boss, hook["id"])
                    return items if items and items[0]["attempts"] else None

                (refused,) = await wait_for(tried)
            assert refused["status"] == "pending" and refused["last_status_code"] is None
            assert "loopback" in refused["last_error"]
        assert receiver.requests == []
    finally:
        dns.stop()
