"""domain.sequence_stops: the stop-rule table."""

from __future__ import annotations

import pytest

from inboxlink.domain.sequence_stops import Happening, SequenceRules, decide_stop

OWN = frozenset({"sam@sender.example"})
CONTACT = "chris@prospect.example"
DEFAULT = SequenceRules()
COMPANY = SequenceRules(stop_on_company_reply=True)
AUTO = SequenceRules(stop_on_auto_reply=True)


@pytest.mark.parametrize(
    ("rules", "happening", "sender", "auto", "free", "stop", "reason"),
    [
        (DEFAULT, Happening.INBOUND, "Chris@Prospect.example", False, False, True, "replied"),
        (DEFAULT, Happening.INBOUND, "pat@prospect.example", False, False, False, ""),
        (COMPANY, Happening.INBOUND, "pat@prospect.example", False, False, True, "company_replied"),
        (COMPANY, Happening.INBOUND, "pat@gmail.com", False, True, False, ""),
        (COMPANY, Happening.INBOUND, "pat@other.example", False, False, False, ""),
        (DEFAULT, Happening.INBOUND, CONTACT, True, False, False, "auto_replied"),
        (AUTO, Happening.INBOUND, CONTACT, True, False, True, "auto_replied"),
        (DEFAULT, Happening.INBOUND, "sam@sender.example", False, False, False, ""),
        (DEFAULT, Happening.BOUNCE, "", False, False, True, "bounced"),
        (DEFAULT, Happening.SEND_FAILED, "", False, False, True, "failed"),
    ],
)
def test_stop_table(
    rules: SequenceRules, happening: Happening, sender: str, auto: bool, free: bool, stop: bool, reason: str
) -> None:
    outcome = decide_stop(
        rules,
        happening,
        contact_email=CONTACT,
        sender=sender,
        auto_reply=auto,
        free_mail=free,
        own_addresses=OWN,
    )
    assert (outcome.stop, outcome.reason) == (stop, reason)
    assert outcome.note is bool(reason)
