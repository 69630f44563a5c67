"""The threading rule: does a message that references a tracked email join that email's thread?

Rule
----
* No tracked parent → a new thread.
* INBOUND (someone wrote to us) → always joins: the sender is replying to us, whoever they are.
* OUTBOUND (the user wrote) → joins only if at least one recipient (To/Cc, the sender excluded) already
  took part in the parent thread. Otherwise it starts a new thread.
* OUTBOUND with no visible recipient left (Bcc only, or mail to oneself) → joins: there is no evidence
  of a new audience, and splitting would orphan the message.

Worked example
--------------
Alice (alice@us.example, the user) emails Bob; thread T1 = {alice, bob}. Bob replies: inbound,
references Alice's email → joins T1. Months later Alice forwards Bob's reply to Carol
(carol@other.example). Her client keeps References, so the forward points into T1. It is outbound, its
recipients are {carol}, and Carol never took part in T1 → a NEW thread on Carol's record, instead of
Carol's conversation being glued onto Bob's (the "old email forwarded to a new person" case HubSpot
gets wrong). Had Alice Cc'd Bob on the forward, {carol, bob} ∩ T1 = {bob} → joins T1.

Addresses are compared lower-cased and stripped; callers should pass them that way already, the
function folds again so a stray capital letter cannot split a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Direction", "ThreadDecision", "ThreadFacts", "decide_thread"]

Direction = Literal["inbound", "outbound"]


@dataclass(frozen=True)
class ThreadFacts:
    """What the rule needs to know about the thread of the referenced (tracked) email."""

    thread_id: str
    participants: frozenset[str]  # lower-cased addresses of everyone who took part


@dataclass(frozen=True)
class ThreadDecision:
    """`join=True` → log into `thread_id`; `join=False` → start a new thread (`thread_id` is None)."""

    join: bool
    thread_id: str | None


_NEW_THREAD = ThreadDecision(join=False, thread_id=None)


def _fold(addresses: frozenset[str]) -> frozenset[str]:
    return frozenset(address.strip().lower() for address in addresses if address.strip())


def decide_thread(
    parent_thread: ThreadFacts | None,
    participants: frozenset[str],
    direction: Direction,
    *,
    sender: str | None = None,
) -> ThreadDecision:
    """Apply the rule above.

    `participants` are the message's addresses. For outbound mail they should be its To/Cc
    recipients; if the sender's own address is among them, pass it as `sender` and it is left out
    (the sender always took part in their own thread, so counting them would make every forward join).
    """
    if parent_thread is None:
        return _NEW_THREAD
    joined = ThreadDecision(join=True, thread_id=parent_thread.thread_id)
    if direction == "inbound":
        return joined
    recipients = _fold(participants)
    if sender is not None:
        recipients -= {sender.strip().lower()}
    if not recipients:
        return joined
    if recipients & _fold(parent_thread.participants):
        return joined
    return _NEW_THREAD
