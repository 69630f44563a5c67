"""Which logged mail stops which enrolment in a sequence (the rule table, no I/O).

An enrolment is for one contact (an address at a domain) in one sequence. What ends it:

| what happened                                   | stops?                                    |
| ----------------------------------------------- | ----------------------------------------- |
| a reply from the contact's own address          | yes (`replied`)                           |
| a reply from someone else at the contact's domain | only when the sequence says `stop_on_company_reply` (`company_replied`) |
| an automatic reply (out of office, …)           | no, unless `stop_on_auto_reply` (`auto_replied`); always shown |
| a bounce (DSN) of one of the enrolment's sends  | yes (`bounced`)                           |
| a send that failed for good                     | yes (`failed`)                            |
| mail from us (our own addresses)                | never                                     |

Free-mail domains are no company: another gmail.com sender is no colleague of a gmail.com contact."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Happening", "Outcome", "SequenceRules", "decide_stop"]


class Happening(Enum):
    INBOUND = "inbound"  # a message logged from outside
    BOUNCE = "bounce"
    SEND_FAILED = "send_failed"


@dataclass(frozen=True)
class SequenceRules:
    stop_on_company_reply: bool = False
    stop_on_auto_reply: bool = False


@dataclass(frozen=True)
class Outcome:
    stop: bool
    reason: str  # replied | company_replied | auto_replied | bounced | failed | "" (nothing to note)
    note: bool = False  # shown on the enrolment's history even when it does not stop it


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def decide_stop(
    rules: SequenceRules,
    happening: Happening,
    *,
    contact_email: str,
    sender: str = "",
    auto_reply: bool = False,
    free_mail: bool = False,
    own_addresses: frozenset[str] = frozenset(),
) -> Outcome:
    """What `happening` means for the enrolment of `contact_email` (see the table above)."""
    if happening is Happening.BOUNCE:
        return Outcome(True, "bounced", True)
    if happening is Happening.SEND_FAILED:
        return Outcome(True, "failed", True)
    who = sender.lower()
    if not who or who in own_addresses:
        return Outcome(False, "")
    contact = contact_email.lower()
    if who == contact:
        reason = "replied"
    elif not free_mail and _domain(who) == _domain(contact) and rules.stop_on_company_reply:
        reason = "company_replied"
    else:
        return Outcome(False, "")
    if auto_reply:
        return Outcome(rules.stop_on_auto_reply, "auto_replied", True)
    return Outcome(True, reason, True)
