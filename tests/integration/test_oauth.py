"""OAuth2 inboxes end to end. The provider's web endpoints are a FAKE (tests/peers/fake_oauth.py);
everything else is real: the grant flow through the API and /oauth/callback, Dovecot validating the
tokens by introspection (XOAUTH2), the provider SMTP taking AUTH XOAUTH2, the monitor and the sender."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from inboxlink.services.accounts import oauth_grants
from inboxlink.storage.tables import inboxes, oauth_states
from tests.support.app import running_app, wait_for
from tests.support.flows import inbound, monitor_connected, wait_sent
from tests.support.oauth import GOOGLE_ID, OAuthPeers, authorize, callback_params, connect_oauth, run_grant
from tests.support.replies import deliver_reply

if TYPE_CHECKING:  # imported by name, pytest would try to collect them as test classes
    from tests.support.app import TestApp, TestUser

CLIENT = "client@prospect.test"


@pytest.fixture(autouse=True)
def fresh_fake(oauth_setup: OAuthPeers) -> Iterator[None]:
    fake = oauth_setup.fake
    yield
    fake.access_lifetime, fake.down, fake.deny_with, fake.rotate = 3600.0, False, None, True
    fake.register(GOOGLE_ID, oauth_setup.secrets[GOOGLE_ID])


@pytest.fixture
async def app(tmp_path: Path, trust_test_ca: Any, oauth_setup: OAuthPeers) -> AsyncIterator[TestApp]:
    async with running_app(tmp_path / "data", **oauth_setup.env()) as test_app:
        yield test_app


async def send(user: TestUser, inbox_id: int, subject: str = "Our offer") -> dict[str, Any]:
    resp = await user.post(
        "/api/v1/emails", {"inbox_id": inbox_id, "to": [{"email": CLIENT}], "subject": subject, "text": "Hi"}
    )
    assert resp.status_code == 202, resp.text
    return await wait_sent(user, resp.json()["id"])


async def inbox_state(user: TestUser, inbox_id: int) -> dict[str, Any]:
    body: dict[str, Any] = (await user.get(f"/api/v1/inboxes/{inbox_id}")).json()
    return body


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_connect_through_the_flow_then_send_and_reply_are_logged(
    app: TestApp, oauth_setup: OAuthPeers, provider: str
) -> None:
    peers = oauth_setup
    user, address, inbox = await connect_oauth(app, peers, provider)
    assert (inbox["auth"], inbox["provider"], inbox["status"]) == ("oauth2", provider, "connected")
    assert inbox["imap"]["port"] == peers.mail.imaps_port and inbox["sent_folder"] == "Sent"
    # Gmail and Office 365 file sent mail themselves: the provider peer does it here, like them.
    peers.smtp.file_sent_copies_for.add(address)
    sent = await send(user, inbox["id"])
    assert sent["status"] == "sent", sent["error"]
    assert any(frm == address and CLIENT in rcpts for frm, rcpts, _ in peers.smtp.received)
    assert len(peers.mail.messages(address, "Sent")) == 1  # filed once by the provider, no APPEND on top
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    deliver_reply(peers.mail, address, CLIENT, sent["message_id"], "Sounds good")
    (reply,) = await inbound(user, sent["contact_ids"][0])
    assert "Sounds good" in reply["text"]


async def test_forged_replayed_expired_and_declined_states_save_nothing(
    app: TestApp, oauth_setup: OAuthPeers
) -> None:
    peers = oauth_setup
    user = await app.user("seller@crm.test")
    address = peers.new_mailbox()

    async def inbox_count() -> int:
        return len((await user.get("/api/v1/inboxes")).json()["items"])

    forged = callback_params(await app.client.get("/oauth/callback?code=abc&state=made-up-by-someone"))
    assert forged["oauth"] == "invalid_state" and await inbox_count() == 0
    missing = callback_params(await app.client.get("/oauth/callback?code=abc"))
    assert missing["oauth"] == "invalid_state"

    # Expired: the state was issued, but the user came back after its 10 minutes.
    path = await authorize(user, peers, "google", address)
    async with app.rt.engine.begin() as conn:
        await conn.execute(update(oauth_states).values(expires_at=oauth_states.c.created_at))
    assert callback_params(await app.client.get(path))["oauth"] == "state_expired"
    assert await inbox_count() == 0

    # Declined at the provider: the state is used up, nothing saved, the page says why.
    peers.fake.deny_with = "access_denied"
    declined = await run_grant(app, user, peers, "google", address)
    peers.fake.deny_with = None
    async with app.rt.engine.connect() as conn:
        outcome = await conn.scalar(
            select(oauth_states.c.outcome).where(oauth_states.c.id == int(declined["oauth"]))
        )
    assert outcome["code"] == "provider_error" and "declined" in outcome["message"]
    assert await inbox_count() == 0

    # Replayed: the same callback a second time (a reload, or someone who saw the URL).
    path = await authorize(user, peers, "google", address)
    first = callback_params(await app.client.get(path))
    assert first["oauth"].isdigit()
    assert callback_params(await app.client.get(path))["oauth"] == "state_used"
    assert await inbox_count() == 1


async def test_an_unconfigured_provider_has_no_api(app: TestApp, tmp_path: Path) -> None:
    user = await app.user("seller@crm.test")
    resp = await user.post("/api/v1/inboxes/oauth/yahoo")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "provider_not_configured"
    resp = await user.post("/api/v1/inboxes/oauth/google", {"inbox_id": 12345})
    assert resp.status_code == 404
    async with running_app(tmp_path / "plain", worker=False) as plain:
        other = await plain.user("x@crm.test")
        resp = await other.post("/api/v1/inboxes/oauth/google")
        assert (
            resp.status_code == 404 and "INBOXLINK_OAUTH_GOOGLE_CLIENT_ID" in resp.json()["error"]["message"]
        )


async def test_twenty_second_tokens_stay_connected_over_several_refreshes(
    app: TestApp, oauth_setup: OAuthPeers
) -> None:
    peers = oauth_setup
    peers.fake.access_lifetime = 20
    user, address, inbox = await connect_oauth(app, peers)
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    monitor = app.monitor(inbox["id"])
    sessions = monitor.sessions

    async def refreshed_three_times() -> bool:
        return peers.fake.refreshes.get(address, 0) >= 3

    await wait_for(refreshed_three_times, timeout=120, interval=0.5)
    assert monitor.sessions == sessions and monitor.connected.is_set()  # no reconnect needed
    assert (await inbox_state(user, inbox["id"]))["status"] == "connected"
    # The first token is long dead: the sender must have used a fresh one (the SMTP peer checks it).
    sent = await send(user, inbox["id"])
    assert sent["status"] == "sent", sent["error"]
    deliver_reply(peers.mail, address, CLIENT, sent["message_id"], "Reply after refreshes")
    await inbound(user, sent["contact_ids"][0])
    # A monitor that must reconnect logs in with a live token too.
    peers.mail.kick(address)

    async def reconnected() -> bool:
        return monitor.sessions > sessions and monitor.connected.is_set()

    await wait_for(reconnected, timeout=30)
    assert (await inbox_state(user, inbox["id"]))["status"] == "connected"


async def test_revoked_access_disconnects_and_a_new_grant_logs_what_came_meanwhile(
    app: TestApp, oauth_setup: OAuthPeers
) -> None:
    peers = oauth_setup
    peers.fake.access_lifetime = 20
    user, address, inbox = await connect_oauth(app, peers)
    sent = await send(user, inbox["id"])
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    peers.fake.revoke_user(address)

    async def revoked() -> dict[str, Any] | None:
        state = await inbox_state(user, inbox["id"])
        return state if state["disconnect_reason"] == "access_revoked" else None

    state = await wait_for(revoked, timeout=60, interval=0.5)  # at the next refresh (≤ 15 s here)
    assert state["status"] == "disconnected" and "Reconnect with Google" in state["last_error"]
    (note,) = (await user.get("/api/v1/notifications")).json()["items"]
    assert note["inbox_id"] == inbox["id"] and "Reconnect" in note["message"]
    assert "7 days" in note["message"]  # Google's expiry of grants to apps in testing status, in words
    deliver_reply(peers.mail, address, CLIENT, sent["message_id"], "Written while you were away")

    params = await run_grant(app, user, peers, "google", address, inbox_id=inbox["id"])
    assert params["oauth"].isdigit()
    after = await inbox_state(user, inbox["id"])
    assert after["status"] == "connected" and after["disconnect_reason"] is None
    assert len((await user.get("/api/v1/inboxes")).json()["items"]) == 1  # the same inbox, not a second one
    (reply,) = await inbound(user, sent["contact_ids"][0])
    assert "while you were away" in reply["text"]
    assert (await user.get("/api/v1/notifications")).json()["items"] == []


async def test_revocation_is_also_noticed_at_the_next_login(app: TestApp, oauth_setup: OAuthPeers) -> None:
    peers = oauth_setup
    user, address, inbox = await connect_oauth(app, peers)  # hour-long tokens: no refresh due
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    peers.fake.revoke_user(address)
    peers.mail.kick(address)  # the monitor must log in again; the token it holds is refused

    async def revoked() -> bool:
        return (await inbox_state(user, inbox["id"]))["disconnect_reason"] == "access_revoked"

    await wait_for(revoked, timeout=60, interval=0.5)


async def test_reconnect_must_sign_in_to_the_same_mailbox(app: TestApp, oauth_setup: OAuthPeers) -> None:
    peers = oauth_setup
    user, _address, inbox = await connect_oauth(app, peers)
    other = peers.new_mailbox()
    params = await run_grant(app, user, peers, "google", other, inbox_id=inbox["id"])
    async with app.rt.engine.connect() as conn:
        outcome = await conn.scalar(
            select(oauth_states.c.outcome).where(oauth_states.c.id == int(params["oauth"]))
        )
    assert outcome["code"] == "wrong_account" and other in outcome["message"]
    assert [i["email"] for i in (await user.get("/api/v1/inboxes")).json()["items"]] == [inbox["email"]]


async def test_token_endpoint_down_is_transient_not_revoked(
    tmp_path: Path, trust_test_ca: Any, oauth_setup: OAuthPeers
) -> None:
    peers = oauth_setup
    peers.fake.access_lifetime = 20
    async with running_app(tmp_path / "data", **peers.env(INBOXLINK_DISCONNECT_AFTER="3")) as app:
        user, _address, inbox = await connect_oauth(app, peers)
        await wait_for(lambda: monitor_connected(app, inbox["id"]))
        peers.fake.down = True
        resp = await user.post(
            "/api/v1/emails",
            {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "Later", "text": "t"},
        )
        email_id = resp.json()["id"]

        async def long_outage() -> dict[str, Any] | None:
            state = await inbox_state(user, inbox["id"])
            return state if state["status"] == "disconnected" else None

        state = await wait_for(long_outage, timeout=90, interval=0.5)
        assert state["disconnect_reason"] == "connection_failed"  # after DISCONNECT_AFTER, never revoked
        assert "token endpoint" in state["last_error"]

        peers.fake.down = False

        async def back() -> bool:
            return (await inbox_state(user, inbox["id"]))["status"] == "connected"

        await wait_for(back, timeout=120, interval=0.5)

        async def sent_at_last() -> bool:
            return (await user.get(f"/api/v1/emails/{email_id}")).json()["status"] == "sent"

        await wait_for(sent_at_last, timeout=120, interval=0.5)


async def test_a_refused_client_secret_is_the_administrators_problem(
    app: TestApp, oauth_setup: OAuthPeers
) -> None:
    peers = oauth_setup
    peers.fake.access_lifetime = 20
    user, _address, inbox = await connect_oauth(app, peers)
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    peers.fake.register(GOOGLE_ID, "a-secret-inboxlink-does-not-have")  # the admin's secret expired

    async def client_refused() -> dict[str, Any] | None:
        state = await inbox_state(user, inbox["id"])
        return state if state["disconnect_reason"] == "oauth_client_invalid" else None

    state = await wait_for(client_refused, timeout=60, interval=0.5)
    assert (
        "administrator" in state["last_error"]
        and "INBOXLINK_OAUTH_GOOGLE_CLIENT_SECRET" in state["last_error"]
    )
    peers.fake.register(GOOGLE_ID, peers.secrets[GOOGLE_ID])  # renewed: the inbox comes back by itself

    async def back() -> bool:
        return (await inbox_state(user, inbox["id"]))["status"] == "connected"

    await wait_for(back, timeout=120, interval=0.5)


async def test_tokens_are_not_in_the_database_file_the_log_or_the_api(
    tmp_path: Path, trust_test_ca: Any, oauth_setup: OAuthPeers, caplog: pytest.LogCaptureFixture
) -> None:
    peers = oauth_setup
    peers.fake.access_lifetime = 20
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    async with running_app(data, **peers.env()) as app:
        user, address, inbox = await connect_oauth(app, peers)
        sent = await send(user, inbox["id"])
        assert sent["status"] == "sent"

        async def refreshed() -> bool:
            return peers.fake.refreshes.get(address, 0) >= 1

        await wait_for(refreshed, timeout=60, interval=0.5)
        answers = (await user.get("/api/v1/inboxes")).text + (
            await user.get(f"/api/v1/inboxes/{inbox['id']}")
        ).text
    tokens = [t for t in peers.fake.issued if t]
    assert len(tokens) >= 4
    stored = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    for token in tokens:
        assert token.encode() not in stored, "a token is in the data directory in clear"
        assert token not in caplog.text, "a token reached the log"
        assert token not in answers


@pytest.mark.postgres
async def test_one_refresh_at_a_time_across_workers_on_postgres(
    tmp_path: Path, trust_test_ca: Any, oauth_setup: OAuthPeers
) -> None:
    from tests.support.app import fresh_postgres_db, postgres_reachable

    if (why := postgres_reachable()) is not None:
        pytest.skip(why)
    peers = oauth_setup
    key = {"INBOXLINK_SECRET_KEY": Fernet.generate_key().decode()}  # one installation, two processes
    with fresh_postgres_db() as url:
        async with (
            running_app(tmp_path / "a", url, worker=False, **peers.env(**key)) as one,
            running_app(tmp_path / "b", url, worker=False, **peers.env(**key)) as two,
        ):
            _user, address, inbox = await connect_oauth(one, peers)
            async with one.rt.engine.connect() as conn:
                inbox_row = (await conn.execute(select(inboxes).where(inboxes.c.id == inbox["id"]))).one()
            current = await oauth_grants.access_token(one.rt, inbox_row)
            # Ten refreshers in two "processes" (own engines) all find the token refused at once.
            # With rotation, a second refresh would reuse a rotated token: the fake then revokes
            # the whole grant, so only one refresh may happen.
            results = await asyncio.gather(
                *(oauth_grants.access_token(rt.rt, inbox_row, stale=current) for rt in [one, two] * 5)
            )
            assert len(set(results)) == 1 and results[0] != current
            assert peers.fake.refreshes[address] == 1
            again = await oauth_grants.access_token(two.rt, inbox_row, stale=results[0])
            assert again not in {current, results[0]} and peers.fake.refreshes[address] == 2
