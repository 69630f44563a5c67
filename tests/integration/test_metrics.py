"""GET /metrics (issue 12): Prometheus text an operator's scraper parses, moving when a reply is
logged, and closed to strangers (loopback only, or a bearer token of its own)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from inboxlink.api.app import create_app
from tests.integration.conftest import CLIENT
from tests.support.app import running_app
from tests.support.flows import inbound
from tests.support.replies import make_reply


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_parse_and_move_when_a_reply_is_logged(app, conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    before = samples((await app.client.get("/metrics")).text)
    assert before[("inboxlink_inboxes", (("status", "connected"),))] >= 1
    logged = ("inboxlink_replies_logged_total", (("direction", "inbound"),))
    _id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: Our offer", text="yes", in_reply_to=sent["message_id"]
    )
    mail_server.deliver(mail_user.email, raw)
    await inbound(user, sent["contact_ids"][0])
    after = samples((await app.client.get("/metrics")).text)
    assert after[logged] == before.get(logged, 0.0) + 1
    assert after[("inboxlink_reply_log_seconds_count", ())] >= 1


async def test_metrics_are_refused_to_others(app, tmp_path):
    # A client that is not on loopback is refused without the token...
    far = httpx.ASGITransport(app=create_app(app.rt), client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=far, base_url="http://inboxlink.test") as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    # ...and with a token configured, only that token opens it (from anywhere).
    async with running_app(tmp_path / "tok", worker=False, INBOXLINK_METRICS_TOKEN="scrape-secret") as other:
        far = httpx.ASGITransport(app=create_app(other.rt), client=("203.0.113.9", 4000))
        async with httpx.AsyncClient(transport=far, base_url="http://inboxlink.test") as client:
            assert (await client.get("/metrics")).status_code == 401
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
            assert ok.status_code == 200 and "inboxlink_inboxes" in ok.text
