"""Which tracked ids count for whom (issue 9, finding 2): an outsider who got one CRM email must not
be able to make a teammate's private mail match. Two users of one team, each with an inbox on the
suite's Dovecot; the hostile messages are built here and delivered over LMTP."""

from __future__ import annotations

import email
import re
import secrets
from email import policy
from pathlib import Path
from typing import Any

import pytest

from inboxlink.mime.headers import own_id
from tests.support.app import running_app, wait_for
from tests.support.flows import connect, inbound, monitor_connected, wait_sent
from tests.support.replies import make_reply

OUTSIDER = "mallory@outside.test"
CLIENT = "chris@prospect.test"
DOCTOR = "doctor@clinic.test"


class Team:
    """Alice and Bob, one team, one inbox each; Alice has sent one CRM email to `to`."""

    def __init__(self, app: Any, alice: Any, bob: Any, boxes: dict[str, Any], sent: dict[str, Any]):
        self.app, self.alice, self.bob, self.boxes, self.sent = app, alice, bob, boxes, sent

    @property
    def alice_address(self) -> str:
        return str(self.boxes["alice"]["email"])

    @property
    def bob_address(self) -> str:
        return str(self.boxes["bob"]["email"])


async def _team(
    app: Any, mail_server: Any, provider_smtp: Any, alice_box: Any, *, to: str, cc_bob: bool = False
) -> Team:
    bob_box = type(alice_box)(
        email=f"bob-{secrets.token_hex(3)}@example.test", password=secrets.token_urlsafe(12)
    )
    mail_server.add_user(bob_box.email, bob_box.password)
    alice, alice_inbox = await connect(app, mail_server, provider_smtp, alice_box, login="alice@crm.test")
    bob, bob_inbox = await connect(app, mail_server, provider_smtp, bob_box, login="bob@crm.test")
    assert alice.caller.team_id == bob.caller.team_id
    body: dict[str, Any] = {
        "inbox_id": alice_inbox["id"],
        "to": [{"email": to}],
        "subject": "Our offer",
        "text": "t",
    }
    if cc_bob:
        body["cc"] = [{"email": bob_box.email}]
    sent = await wait_sent(alice, (await alice.post("/api/v1/emails", body)).json()["id"])
    assert sent["status"] == "sent", sent["error"]
    for inbox in (alice_inbox, bob_inbox):
        await wait_for(lambda inbox=inbox: monitor_connected(app, inbox["id"]))
    return Team(app, alice, bob, {"alice": alice_inbox, "bob": bob_inbox}, sent)


def _as_received(provider_smtp: Any, rcpt: str, message_id: str) -> bytes:
    """The CRM email exactly as `rcpt` got it (what an outsider can copy headers from)."""
    for _sender, rcpts, data in provider_smtp.received:
        if rcpt in rcpts and message_id.encode() in data:
            return bytes(data)
    raise AssertionError(f"{rcpt} got no copy of {message_id}")


def _with_header(raw: bytes, line: bytes) -> bytes:
    return line + b"\n" + raw


async def _sentinel(user: Any, mail_server: Any, mailbox: str, parent_id: str) -> None:
    """A genuine reply to `parent_id` delivered last into `mailbox`: once it is logged, everything
    delivered there before it has been scanned."""
    sentinel_id, raw = make_reply(
        sender=CLIENT, to=mailbox, subject="Re: Our offer", text="sentinel", in_reply_to=parent_id
    )
    mail_server.deliver(mailbox, raw)

    async def logged() -> bool:
        return sentinel_id in {e["message_id"] for e in await _contact_emails(user, CLIENT)}

    await wait_for(logged, timeout=20)


async def _contact_emails(user: Any, address: str) -> list[dict[str, Any]]:
    found = (await user.get("/api/v1/contacts", params={"email": address})).json()["items"]
    if not found:
        return []
    items: list[dict[str, Any]] = (await user.get(f"/api/v1/contacts/{found[0]['id']}/emails")).json()[
        "items"
    ]
    return items


async def _assert_nowhere(app: Any, marker: str) -> None:
    """No row, no blob, no log line holds the marker: the message was never stored."""
    await app.rt.engine.dispose()
    for path in Path(app.data_dir).rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path


async def _doctor_answers_bob(team: Team, mail_server: Any, private_id: str, marker: str) -> None:
    """Bob's private correspondent answers Bob's private mail `private_id`; a sentinel follows."""
    _id, raw = make_reply(
        sender=DOCTOR, to=team.bob_address, subject=f"Re: your results {marker}", text=f"private {marker}",
        in_reply_to=private_id, references=[private_id],
    )  # fmt: skip
    mail_server.deliver(team.bob_address, raw)
    await _sentinel(team.bob, mail_server, team.bob_address, team.sent["message_id"])


async def _sent_pass(app: Any, inbox_id: int) -> None:
    """Wait until the inbox's monitor has looked at its folders (Sent included) a few times more."""
    monitor = app.monitor(inbox_id)
    target = monitor.folder_syncs + 4

    async def done() -> bool:
        return bool(monitor.folder_syncs >= target)

    await wait_for(done, timeout=20)


async def test_a_copied_own_id_header_in_the_inbox_makes_nothing_of_a_teammate_logged(
    app, mail_server, provider_smtp, mail_user
):
    # Mallory got one CRM email from Alice: she has its Message-ID and its X-Inboxlink-Id, MAC and all.
    team = await _team(app, mail_server, provider_smtp, mail_user, to=OUTSIDER)
    received = _as_received(provider_smtp, OUTSIDER, team.sent["message_id"])
    header = re.search(rb"(?im)^x-inboxlink-id:[^\r\n]*", received)
    assert header is not None and (parsed := own_id(received)) is not None and parsed.mac
    # She sends Alice a message with that header, under the Message-ID of Bob's private mail.
    private_id = f"private-{secrets.token_hex(6)}@bob.example"
    _id, raw = make_reply(
        sender=OUTSIDER, to=team.alice_address, subject="hello", text="hi", message_id=f"<{private_id}>"
    )
    mail_server.deliver(team.alice_address, _with_header(raw, header.group(0)))
    await _sentinel(team.alice, mail_server, team.alice_address, team.sent["message_id"])
    # Later Bob's doctor answers Bob's private mail: it must not be fetched, stored, or shown.
    marker = f"MEDICAL-{secrets.token_hex(4)}"
    await _doctor_answers_bob(team, mail_server, private_id, marker)
    assert await _contact_emails(team.bob, DOCTOR) == []
    assert all(DOCTOR != e["from"]["email"] for e in await _contact_emails(team.alice, OUTSIDER))
    await _assert_nowhere(team.app, marker)


async def test_a_reply_under_a_chosen_message_id_counts_only_for_the_inbox_that_received_it(
    app, mail_server, provider_smtp, mail_user
):
    team = await _team(app, mail_server, provider_smtp, mail_user, to=OUTSIDER)
    private_id = f"private-{secrets.token_hex(6)}@bob.example"
    # A plain reply to Alice's email, under the Message-ID of Bob's private mail: logged (it is a reply).
    _id, raw = make_reply(
        sender=OUTSIDER, to=team.alice_address, subject="Re: Our offer", text="a reply",
        in_reply_to=team.sent["message_id"], message_id=f"<{private_id}>",
    )  # fmt: skip
    mail_server.deliver(team.alice_address, raw)
    [reply] = await inbound(team.alice, team.sent["contact_ids"][0])
    assert reply["message_id"] == private_id
    # Bob's doctor answers that id in Bob's inbox: not Alice's conversation, not logged.
    marker = f"MEDICAL-{secrets.token_hex(4)}"
    await _doctor_answers_bob(team, mail_server, private_id, marker)
    assert await _contact_emails(team.bob, DOCTOR) == []
    outsider = await _contact_emails(team.alice, OUTSIDER)
    assert private_id in {e["message_id"] for e in outsider}
    assert all(DOCTOR != e["from"]["email"] for e in outsider)
    await _assert_nowhere(team.app, marker)


async def test_replies_to_replies_continue_in_the_inbox_and_across_a_teammate_in_cc(
    app, mail_server, provider_smtp, mail_user
):
    team = await _team(app, mail_server, provider_smtp, mail_user, to=CLIENT, cc_bob=True)
    contact = team.sent["contact_ids"][0]
    crm_id = team.sent["message_id"]
    # Chris answers all: the copy in Alice's inbox and the one in Bob's (he was Cc'd on the thread).
    first_id, first = make_reply(
        sender=CLIENT, to=team.alice_address, cc=team.bob_address, subject="Re: Our offer", text="one",
        in_reply_to=crm_id, references=[crm_id],
    )  # fmt: skip
    mail_server.deliver(team.alice_address, first)
    mail_server.deliver(team.bob_address, first)
    # In Alice's inbox, an answer naming only that reply continues the conversation.
    second_id, second = make_reply(
        sender=CLIENT, to=team.alice_address, subject="Re: Re: Our offer", text="two", in_reply_to=first_id
    )
    mail_server.deliver(team.alice_address, second)
    # In Bob's inbox: one whose References still hold our id, and one naming only the reply Bob got too.
    third_id, third = make_reply(
        sender=CLIENT, to=team.bob_address, subject="Re: Re: Our offer", text="three",
        in_reply_to=first_id, references=[crm_id, first_id],
    )  # fmt: skip
    fourth_id, fourth = make_reply(
        sender=CLIENT, to=team.bob_address, subject="Re: Re: Our offer", text="four", in_reply_to=first_id
    )
    mail_server.deliver(team.bob_address, third)
    mail_server.deliver(team.bob_address, fourth)
    found = await inbound(team.alice, contact, count=4)
    assert sorted(e["message_id"] for e in found) == sorted([first_id, second_id, third_id, fourth_id])
    assert {e["thread_id"] for e in found} == {team.sent["thread_id"]}


@pytest.mark.parametrize("mac", ["valid", "forged", "none"])
async def test_only_a_sent_copy_with_our_mac_teaches_its_new_message_id(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user, mac
):
    async with running_app(tmp_path / "data", INBOXLINK_POLL_INTERVAL="1") as app:
        team = await _team(app, mail_server, provider_smtp, mail_user, to=CLIENT)
        crm_id = team.sent["message_id"]
        genuine = own_id(_as_received(provider_smtp, CLIENT, crm_id))
        assert genuine is not None and genuine.mac is not None
        values = {
            "valid": f"<{crm_id}>; mac={genuine.mac}",
            "forged": f"<{crm_id}>; mac={'A' * 43}",
            "none": f"<{crm_id}>",  # how copies sent before the MAC look
        }
        # A copy in Alice's Sent under another Message-ID (what a rewriting relay files).
        copy = email.message_from_bytes(_as_received(provider_smtp, CLIENT, crm_id), policy=policy.compat32)
        alias = f"relay-{secrets.token_hex(6)}@relay.example"
        del copy["Message-ID"], copy["X-Inboxlink-Id"], copy["References"]
        copy["Message-ID"] = f"<{alias}>"
        copy["X-Inboxlink-Id"] = values[mac]
        mail_server.save(team.alice_address, "Sent", copy.as_bytes())
        await _sent_pass(app, team.boxes["alice"]["id"])
        # Chris answers the id he saw (In-Reply-To only, no References), to Alice: followed only when
        # the copy proved to be ours. In Bob's inbox the alias alone never counts (it is Alice's).
        answer_id, raw = make_reply(
            sender=CLIENT, to=team.alice_address, subject="Re: Our offer", text="via relay", in_reply_to=alias
        )
        mail_server.deliver(team.alice_address, raw)
        to_bob, raw_bob = make_reply(
            sender=CLIENT, to=team.bob_address, subject="Re: Our offer", text="to Bob", in_reply_to=alias
        )
        mail_server.deliver(team.bob_address, raw_bob)
        await _sentinel(team.alice, mail_server, team.alice_address, crm_id)
        await _sentinel(team.bob, mail_server, team.bob_address, crm_id)
        logged = {e["message_id"] for e in await _contact_emails(team.bob, CLIENT)}
        assert (answer_id in logged) is (mac == "valid")
        assert to_bob not in logged
        # The copy itself is not logged as a second email.
        thread = (await team.alice.get(f"/api/v1/threads/{team.sent['thread_id']}")).json()["emails"]
        assert alias not in {e["message_id"] for e in thread}


async def test_an_id_bccd_to_the_logging_address_counts_only_for_that_users_inboxes(
    app, mail_server, provider_smtp, mail_user
):
    from tests.integration.test_bcc import bcc_address, listening, message, send

    team = await _team(app, mail_server, provider_smtp, mail_user, to=CLIENT)
    # Whoever holds Alice's logging address can choose the Message-ID of what gets logged as hers.
    chosen = f"chosen-{secrets.token_hex(6)}@anywhere.example"
    async with listening(app.rt) as listener:
        out = message(team.alice_address, CLIENT, "Proposal", "logged as Alice's")
        del out["Message-ID"]
        out["Message-ID"] = f"<{chosen}>"
        await send(listener, team.alice_address, [bcc_address(team.alice)], out)
    assert chosen in {e["message_id"] for e in await _contact_emails(team.alice, CLIENT)}
    # An answer to that id in Bob's inbox is not logged ...
    marker = f"PRIVATE-{secrets.token_hex(4)}"
    _id, raw = make_reply(sender=DOCTOR, to=team.bob_address, subject=marker, text=marker, in_reply_to=chosen)
    mail_server.deliver(team.bob_address, raw)
    await _sentinel(team.bob, mail_server, team.bob_address, team.sent["message_id"])
    assert await _contact_emails(team.bob, DOCTOR) == []
    # ... while in Alice's own inbox it is (her outbound mail, answered to her).
    alices_id, raw = make_reply(
        sender=CLIENT, to=team.alice_address, subject="Re: Proposal", text="ok", in_reply_to=chosen
    )
    mail_server.deliver(team.alice_address, raw)
    await _sentinel(team.alice, mail_server, team.alice_address, team.sent["message_id"])
    assert alices_id in {e["message_id"] for e in await _contact_emails(team.alice, CLIENT)}
    await _assert_nowhere(team.app, marker)


async def test_a_teammates_own_sent_copy_cannot_make_anothers_private_mail_tracked(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    """The MAC proves the signed id, not the Message-ID beside it: Alice can file a copy of her own
    CRM email in her own Sent under the Message-ID of Bob's private mail. That alias counts for her
    inboxes alone, so the answer to Bob's private mail, in Bob's inbox, is never fetched."""
    async with running_app(tmp_path / "data", INBOXLINK_POLL_INTERVAL="1") as app:
        team = await _team(app, mail_server, provider_smtp, mail_user, to=CLIENT)
        crm_id = team.sent["message_id"]
        copy = email.message_from_bytes(_as_received(provider_smtp, CLIENT, crm_id), policy=policy.compat32)
        assert own_id(copy.as_bytes()) is not None  # the genuine header, MAC and all
        private_id = f"private-{secrets.token_hex(6)}@bob.example"
        del copy["Message-ID"]
        copy["Message-ID"] = f"<{private_id}>"
        mail_server.save(team.alice_address, "Sent", copy.as_bytes())
        await _sent_pass(app, team.boxes["alice"]["id"])
        marker = f"MEDICAL-{secrets.token_hex(4)}"
        await _doctor_answers_bob(team, mail_server, private_id, marker)
        assert await _contact_emails(team.bob, DOCTOR) == []
        await _assert_nowhere(app, marker)
