"""Two workers on one PostgreSQL share the inboxes through leases: each inbox is followed by exactly
one of them, and when one stops the other takes its inboxes over and logs their replies."""

from __future__ import annotations

import asyncio

import pytest

from inboxlink.services.platform.event_bridge import EventBridge
from tests.integration.conftest import CLIENT
from tests.support.app import fresh_postgres_db, postgres_reachable, running_app, wait_for
from tests.support.flows import inbound, wait_sent
from tests.support.mail import inbox_body
from tests.support.replies import deliver_reply


@pytest.fixture
def pg_url():
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    with fresh_postgres_db() as url:
        yield url


def _held(app) -> set[int]:
    return {i for i, (monitor, task, _s) in app.supervisor.monitors.items() if not task.done()}


async def test_each_inbox_has_one_worker_and_survives_a_worker_stopping(
    pg_url, tmp_path, trust_test_ca, mail_server, provider_smtp
):
    accounts = []
    for i in range(4):
        address = f"scale{i}-{tmp_path.name[-6:].lower().replace('_', '')}@example.test"
        mail_server.add_user(address, f"scale-pass-{i}")
        accounts.append((address, f"scale-pass-{i}"))
    data = tmp_path / "shared-data"
    async with running_app(data, pg_url) as second:
        async with running_app(data, pg_url) as first:
            user = await first.user("ops@scale.test")
            inbox_ids = []
            for address, password in accounts:
                account = type("A", (), {"email": address, "password": password})
                resp = await user.post("/api/v1/inboxes", inbox_body(mail_server, provider_smtp, account))
                assert resp.status_code == 201, resp.text
                inbox_ids.append(resp.json()["id"])

            async def all_followed_once():
                a, b = _held(first), _held(second)
                return (a, b) if a | b == set(inbox_ids) and not a & b else None

            await wait_for(all_followed_once, timeout=20)
            resp = await user.post(
                "/api/v1/emails",
                {"inbox_id": inbox_ids[0], "to": [{"email": CLIENT}], "subject": "Scale", "text": "t"},
            )
            sent = await wait_sent(user, resp.json()["id"])
        # `first` has stopped and released its leases: `second` follows every inbox now.
        await wait_for(lambda: _all(second, inbox_ids), timeout=20)
        user.client = second.client
        _id = deliver_reply(
            mail_server, accounts[0][0], CLIENT, sent["message_id"], "still here", subject="Re: Scale"
        )
        [reply] = await inbound(user, sent["contact_ids"][0], timeout=30)
        assert "still here" in reply["text"]


async def _all(app, inbox_ids):
    return _held(app) == set(inbox_ids)


async def test_timeline_events_reach_the_other_processes(pg_url, tmp_path):
    data = tmp_path / "shared-data"
    async with (
        running_app(data, pg_url, worker=False) as web,
        running_app(data, pg_url, worker=False) as worker,
    ):
        bridges = [EventBridge(web.rt, retry=0.2), EventBridge(worker.rt, retry=0.2)]
        tasks = [asyncio.create_task(b.run()) for b in bridges]
        try:
            for bridge in bridges:
                await asyncio.wait_for(bridge.listening.wait(), 10)
            page = web.rt.timeline.subscribe(7)  # a page open on team 7's records, served by `web`
            other_team = web.rt.timeline.subscribe(8)
            worker.rt.timeline.publish(7, {"type": "email", "email_id": 42, "thread_id": 3})
            assert await asyncio.wait_for(page.get(), 10) == {"type": "email", "email_id": 42, "thread_id": 3}
            web.rt.timeline.publish(7, {"type": "email", "email_id": 43, "thread_id": 3})
            assert await asyncio.wait_for(page.get(), 10) == {"type": "email", "email_id": 43, "thread_id": 3}
            await asyncio.sleep(0.5)  # an echo of its own event, if any, would have arrived by now
            assert page.empty() and other_team.empty()
        finally:
            for bridge in bridges:
                bridge.stop()
            await asyncio.gather(*tasks)
