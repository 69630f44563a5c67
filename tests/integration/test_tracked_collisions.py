"""A reply under the Message-ID of private mail in the same mailbox (issue 9, finding 2, the part
test_tracked_scopes.py left open): the reply is logged, but its id is not learned, whichever of the
two arrived first, so an answer to the private mail in that inbox is never fetched or logged."""

from __future__ import annotations

import secrets
from typing import Any

from tests.integration.test_tracked_scopes import (
    CLIENT,
    DOCTOR,
    OUTSIDER,
    Team,
    _assert_nowhere,
    _contact_emails,
    _sentinel,
    _team,
)
from tests.support.flows import inbound
from tests.support.replies import make_reply


def _private_mail(team: Team, private_id: str, marker: str) -> bytes:
    """A teammate's private mail, in Alice's INBOX: nothing of ours, never to be logged."""
    _id, raw = make_reply(
        sender=DOCTOR, to=team.alice_address, subject=f"your results {marker}", text=f"private {marker}",
        message_id=f"<{private_id}>",
    )  # fmt: skip
    return raw


def _forged_reply(team: Team, private_id: str) -> bytes:
    """Mallory answers Alice's CRM email under the Message-ID of that private mail."""
    _id, raw = make_reply(
        sender=OUTSIDER, to=team.alice_address, subject="Re: Our offer", text="a reply",
        in_reply_to=team.sent["message_id"], message_id=f"<{private_id}>",
    )  # fmt: skip
    return raw


async def _answer_to_private_mail(team: Team, mail_server: Any, private_id: str, marker: str) -> None:
    """The doctor's answer to the private mail (naming nothing of ours) reaches Alice; a sentinel follows."""
    _id, raw = make_reply(
        sender=CLIENT, to=team.alice_address, subject=f"Re: your results {marker}",
        text=f"answer {marker}", in_reply_to=private_id,
    )  # fmt: skip
    mail_server.deliver(team.alice_address, raw)
    await _sentinel(team.alice, mail_server, team.alice_address, team.sent["message_id"])


async def _logged_reply(team: Team, private_id: str) -> dict[str, Any]:
    [reply] = await inbound(team.alice, team.sent["contact_ids"][0])
    assert reply["message_id"] == private_id
    return reply


def _not_answers(emails: list[dict[str, Any]], marker: str) -> bool:
    return all(marker not in e["subject"] for e in emails)


async def test_a_reply_under_the_id_of_private_mail_already_in_the_inbox_is_logged_not_learned(
    app, mail_server, provider_smtp, mail_user
):
    team = await _team(app, mail_server, provider_smtp, mail_user, to=OUTSIDER)
    private_id = f"private-{secrets.token_hex(6)}@doctor.example"
    marker = f"MEDICAL-{secrets.token_hex(4)}"
    mail_server.deliver(team.alice_address, _private_mail(team, private_id, marker))
    mail_server.deliver(team.alice_address, _forged_reply(team, private_id))
    reply = await _logged_reply(team, private_id)  # it answered our email: on the record, visibly
    assert any("Message-ID is not tracked" in p for p in reply["problems"]), reply["problems"]
    await _answer_to_private_mail(team, mail_server, private_id, marker)
    assert _not_answers(await _contact_emails(team.alice, CLIENT), marker)
    assert _not_answers(await _contact_emails(team.alice, OUTSIDER), marker)
    await _assert_nowhere(team.app, marker)


async def test_private_mail_arriving_after_a_reply_under_its_id_stops_that_id_counting(
    app, mail_server, provider_smtp, mail_user
):
    team = await _team(app, mail_server, provider_smtp, mail_user, to=OUTSIDER)
    private_id = f"private-{secrets.token_hex(6)}@doctor.example"
    marker = f"MEDICAL-{secrets.token_hex(4)}"
    mail_server.deliver(team.alice_address, _forged_reply(team, private_id))
    reply = await _logged_reply(team, private_id)  # learned: nothing else had that id yet
    assert reply["problems"] == []
    mail_server.deliver(team.alice_address, _private_mail(team, private_id, marker))
    await _answer_to_private_mail(team, mail_server, private_id, marker)
    assert _not_answers(await _contact_emails(team.alice, CLIENT), marker)
    assert _not_answers(await _contact_emails(team.alice, OUTSIDER), marker)
    await _assert_nowhere(team.app, marker)


async def test_a_reply_delivered_twice_still_has_its_answers_logged(
    app, mail_server, provider_smtp, mail_user
):
    team = await _team(app, mail_server, provider_smtp, mail_user, to=CLIENT)
    first_id, first = make_reply(
        sender=CLIENT, to=team.alice_address, subject="Re: Our offer", text="one",
        in_reply_to=team.sent["message_id"],
    )  # fmt: skip
    mail_server.deliver(team.alice_address, first)
    [logged] = await inbound(team.alice, team.sent["contact_ids"][0])
    assert logged["problems"] == []
    # The same reply again, after it was logged (a forwarding loop): a copy, not a collision.
    mail_server.deliver(team.alice_address, first)
    second_id, second = make_reply(
        sender=CLIENT, to=team.alice_address, subject="Re: Re: Our offer", text="two", in_reply_to=first_id
    )
    mail_server.deliver(team.alice_address, second)
    found = await inbound(team.alice, team.sent["contact_ids"][0], count=2)
    assert sorted(e["message_id"] for e in found) == sorted([first_id, second_id])
