"""Webhooks and the events feed against a real HTTP receiver on loopback (allow-private config):
signed Standard Webhooks deliveries of real events, retries with the same webhook-id, team
isolation and the feed's paging; the request's safety (SSRF, redirects, limits) is in
test_webhook_safety.py."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import WebhookVerificationError

from inboxlink.services.accounts import (
    health,
    webhook_delivery,  # noqa: F401  (registers the job handler)
)
from inboxlink.services.platform import events, jobs
from inboxlink.services.platform.runtime import as_utc, now
from inboxlink.storage.platform_tables import webhooks
from tests.support.app import TestApp as LiveApp
from tests.support.app import running_app, wait_for
from tests.support.flows import connect, start_conversation
from tests.support.receiver import Receiver, start_receiver
from tests.support.replies import deliver_reply
from tests.support.web import served, sign_in
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


async def test_receiver_failing_then_answering_gets_it_once_with_the_same_id(
    hooked_app: LiveApp, receiver: Receiver
) -> None:
    boss = await admin(hooked_app, "boss@crm.test")
    hook = await subscribe(boss, receiver.url, ["inbox.disconnected", "inbox.reconnected"])
    receiver.statuses = [500, 500, 503]
    await record(hooked_app, boss.caller.team_id, "inbox.disconnected", {"id": 1, "status": "disconnected"})
    await record(hooked_app, boss.caller.team_id, "inbox.reconnected", {"id": 1, "status": "connected"})

    async def settled() -> bool:
        return all(d["status"] == "delivered" for d in await deliveries_of(boss, hook["id"]))

    await wait_for(settled, timeout=30)
    answered = [(r.headers["webhook-id"], r.answered) for r in receiver.requests]
    first, second = answered[0][0], answered[-1][0]
    # The first event is retried (same id each time) until it gets through; only then the second.
    assert answered == [(first, 500), (first, 500), (first, 503), (first, 200), (second, 200)]
    assert [json.loads(r.body)["type"] for r in receiver.requests][-1] == "inbox.reconnected"
    deliveries = await deliveries_of(boss, hook["id"])
    assert sorted(d["attempts"] for d in deliveries) == [1, 4]
    assert all(d["last_status_code"] == 200 for d in deliveries)


async def test_a_dead_endpoint_does_not_hold_back_another(hooked_app: LiveApp, receiver: Receiver) -> None:
    boss = await admin(hooked_app, "boss@crm.test")
    dead = await subscribe(boss, "http://127.0.0.1:9/nothing-listens", ["email.sent"])
    await subscribe(boss, receiver.url, ["email.sent"])
    for n in range(3):
        await record(hooked_app, boss.caller.team_id, "email.sent", {"id": n})
    await wait_for(lambda: received_at_least(receiver, 3), timeout=20)
    assert [json.loads(r.body)["data"]["id"] for r in receiver.requests] == [0, 1, 2]
    stuck = await deliveries_of(boss, dead["id"])
    assert stuck[-1]["status"] == "pending" and "could not connect" in stuck[-1]["last_error"]


async def test_failed_after_the_window_then_retried_by_hand(tmp_path: Path, receiver: Receiver) -> None:
    env = {**FAST, "INBOXLINK_WEBHOOK_RETRY_WINDOW": "0.3"}
    async with running_app(tmp_path / "data", worker=False, **env) as app, jobs_running(app):
        boss = await admin(app, "boss@crm.test")
        hook = await subscribe(boss, receiver.url, ["email.failed"])
        receiver.default = 500
        await record(app, boss.caller.team_id, "email.failed", {"id": 9})

        async def failed() -> list[dict[str, Any]] | None:
            items = await deliveries_of(boss, hook["id"])
            return items if items[0]["status"] == "failed" else None

        (gave_up,) = await wait_for(failed)
        assert (
            gave_up["last_error"] == "the receiver answered HTTP 500" and gave_up["last_status_code"] == 500
        )
        receiver.default = 200
        again = await boss.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{gave_up['id']}/retry")
        assert again.status_code == 200, again.text

        async def delivered() -> bool:
            return (await deliveries_of(boss, hook["id"]))[0]["status"] == "delivered"

        await wait_for(delivered)
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


async def test_events_feed_pages_in_order_and_only_the_teams(app: LiveApp) -> None:
    boss = await admin(app, "boss@crm.test")
    rival = await admin(app, "boss@rival.test", team="rival")
    for n in range(7):
        await record(app, boss.caller.team_id, "email.sent", {"id": n})
        await record(app, rival.caller.team_id, "email.sent", {"id": 100 + n})
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        page = (
            await boss.get("/api/v1/events", params={"limit": 3, **({"after": cursor} if cursor else {})})
        ).json()
        seen += [item["data"]["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == list(range(7))
    tail = (await boss.get("/api/v1/events", params={"after": cursor})).json()
    assert tail["items"] == [] and tail["next_cursor"] == cursor  # poll again from the same place
    bad = await boss.get("/api/v1/events", params={"after": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_field"


async def test_other_teams_webhook_is_not_found(app: LiveApp, receiver: Receiver) -> None:
    async with running_app(app.data_dir.parent / "d2", worker=False, **FAST) as other:
        boss = await admin(other, "boss@crm.test")
        rival = await admin(other, "boss@rival.test", team="rival")
        hook = await subscribe(boss, receiver.url, ["email.sent"])
        for call in (rival.get, rival.delete):
            resp = await call(f"/api/v1/webhooks/{hook['id']}")
            assert resp.status_code == 404 and resp.json()["error"]["code"] == "webhook_not_found"
        assert (await rival.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).status_code == 404
        for path in (
            f"/api/v1/webhooks/{hook['id']}/rotate-secret",
            f"/api/v1/webhooks/{hook['id']}/deliveries/1/retry",
        ):
            resp = await rival.post(path)
            assert resp.status_code == 404 and resp.json()["error"]["code"] == "webhook_not_found", path
        assert (await boss.get("/api/v1/webhooks")).json()["items"][0]["id"] == hook["id"]


async def test_rotated_secret_old_and_new_both_verify(hooked_app: LiveApp, receiver: Receiver) -> None:
    boss = await admin(hooked_app, "boss@crm.test")
    hook = await subscribe(boss, receiver.url, ["email.sent"])
    rotated = (await boss.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret")).json()
    assert rotated["secret"] != hook["secret"]
    await record(hooked_app, boss.caller.team_id, "email.sent", {"id": 5})
    await wait_for(lambda: received_at_least(receiver, 1))
    got = receiver.requests[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verified(hook["secret"], got)["data"] == {"id": 5}
    assert verified(rotated["secret"], got)["data"] == {"id": 5}
    # 24 h later (the overlap's end, set back rather than waited for) only the new secret signs.
    async with hooked_app.rt.engine.begin() as conn:
        until = (await conn.execute(select(webhooks.c.previous_until))).scalar_one()
        assert timedelta(hours=23, minutes=59) < as_utc(until) - now() <= timedelta(hours=24)
        await conn.execute(webhooks.update().values(previous_until=now() - timedelta(seconds=1)))
    await record(hooked_app, boss.caller.team_id, "email.sent", {"id": 6})
    await wait_for(lambda: received_at_least(receiver, 2))
    later = receiver.requests[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    assert verified(rotated["secret"], later)["data"] == {"id": 6}
    with pytest.raises(WebhookVerificationError):
        verified(hook["secret"], later)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field"
    return found.group(1)


async def test_admin_page_adds_an_endpoint_and_sends_a_test_event(
    hooked_app: LiveApp, receiver: Receiver
) -> None:
    await admin(hooked_app, "boss@crm.test")
    await hooked_app.user("seller@crm.test")
    async with served(hooked_app) as base, httpx.AsyncClient(base_url=base) as browser:
        await sign_in(browser, "boss@crm.test")
        settings = await browser.get("/settings")
        assert 'href="/settings/webhooks"' in settings.text
        page = await browser.get("/settings/webhooks")
        added = await browser.post(
            "/settings/webhooks",
            data={
                "url": receiver.url,
                "events": ["email.logged", "inbox.disconnected"],
                "csrf_token": _csrf(page.text),
            },
        )
        assert added.status_code == 201
        secret = re.search(r'id="webhook-secret">([^<]+)<', added.text)
        assert secret and secret.group(1).startswith("whsec_")
        hook_id = re.search(r'id="webhook-(\d+)"', added.text)
        assert hook_id
        sent = await browser.post(
            f"/settings/webhooks/{hook_id.group(1)}/test", data={"csrf_token": _csrf(added.text)}
        )
        assert sent.status_code == 303
        await wait_for(lambda: received_at_least(receiver, 1))
        assert verified(secret.group(1), receiver.requests[0])["type"] == "webhook.test"

        async def listed() -> bool:
            return 'data-delivery-status="delivered"' in (await browser.get("/settings/webhooks")).text

        await wait_for(listed)
        assert secret.group(1) not in (await browser.get("/settings/webhooks")).text  # shown once
    async with served(hooked_app) as base, httpx.AsyncClient(base_url=base) as browser:
        await sign_in(browser, "seller@crm.test")
        assert (await browser.get("/settings/webhooks")).status_code == 404
        assert 'href="/settings/webhooks"' not in (await browser.get("/settings")).text


async def test_inbox_disconnect_and_reconnect_are_events_once_each(
    app: LiveApp, mail_server: Any, provider_smtp: Any, mail_user: Any
) -> None:
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    await health.mark_disconnected(app.rt, inbox["id"], "auth_failed", "NO [AUTHENTICATIONFAILED]")
    await health.mark_disconnected(app.rt, inbox["id"], "auth_failed", "NO again")  # already down: no event
    resp = await user.put(f"/api/v1/inboxes/{inbox['id']}/credentials", {"password": mail_user.password})
    assert resp.status_code == 200, resp.text  # the owner reconnects it
    await health.mark_disconnected(app.rt, inbox["id"], "connection_failed", "timed out")
    await health.mark_reconnected(app.rt, inbox["id"])  # the server answers again
    await health.mark_reconnected(app.rt, inbox["id"])  # already connected: no event
    feed = (await user.get("/api/v1/events")).json()["items"]
    kinds = [(e["type"], e["data"]["id"], e["data"]["status"]) for e in feed]
    assert kinds == [
        ("inbox.disconnected", inbox["id"], "disconnected"),
        ("inbox.reconnected", inbox["id"], "connected"),
        ("inbox.disconnected", inbox["id"], "disconnected"),
        ("inbox.reconnected", inbox["id"], "connected"),
    ]
    assert feed[0]["data"]["disconnect_reason"] == "auth_failed"
    assert "secret" not in json.dumps(feed) and mail_user.password not in json.dumps(feed)


async def test_events_are_kept_30_days_by_default(app: LiveApp) -> None:
    assert app.rt.settings.events_retention_days == 30
    boss = await admin(app, "boss@crm.test")
    async with app.rt.engine.begin() as conn:
        for age in (31, 29, 0):
            row = await events.record(
                app.rt, conn, boss.caller.team_id, "email.sent", {"id": age, "age": age}
            )
            # Aged by setting their stamp back rather than by waiting.
            await conn.execute(
                events.events.update()
                .where(events.events.c.id == row)
                .values(created_at=now() - timedelta(days=age))
            )
    with pytest.raises(jobs.Retry):
        await events.prune(app.rt, {})
    kept = (await boss.get("/api/v1/events")).json()["items"]
    assert [item["data"]["age"] for item in kept] == [29, 0]


async def test_events_past_retention_are_pruned(tmp_path: Path) -> None:
    async with running_app(tmp_path / "data", worker=False, INBOXLINK_EVENTS_RETENTION_DAYS="0") as app:
        boss = await admin(app, "boss@crm.test")
        await record(app, boss.caller.team_id, "email.sent", {"id": 1})
        assert len((await boss.get("/api/v1/events")).json()["items"]) == 1
        with pytest.raises(jobs.Retry):  # periodic: it schedules its next run
            await events.prune(app.rt, {})
        assert (await boss.get("/api/v1/events")).json()["items"] == []
