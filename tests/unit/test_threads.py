from typing import Literal

import pytest

from inboxlink.domain.threads import ThreadDecision, ThreadFacts, decide_thread

ALICE = "alice@us.example"  # the user
BOB = "bob@acme.example"
CAROL = "carol@other.example"
DAVE = "dave@acme.example"

T1 = ThreadFacts(thread_id="t1", participants=frozenset({ALICE, BOB}))
JOIN_T1 = ThreadDecision(join=True, thread_id="t1")
NEW = ThreadDecision(join=False, thread_id=None)


@pytest.mark.parametrize(
    ("case", "parent", "participants", "direction", "expected"),
    [
        ("no tracked parent, inbound", None, {BOB}, "inbound", NEW),
        ("no tracked parent, outbound", None, {BOB}, "outbound", NEW),
        ("reply from a participant", T1, {BOB, ALICE}, "inbound", JOIN_T1),
        ("reply from a stranger still joins", T1, {DAVE, ALICE}, "inbound", JOIN_T1),
        ("inbound with nobody known", T1, {CAROL}, "inbound", JOIN_T1),
        ("user answers a participant", T1, {BOB}, "outbound", JOIN_T1),
        ("user forwards the old email to a new person", T1, {CAROL}, "outbound", NEW),
        ("forward to a new person with a participant in cc", T1, {CAROL, BOB}, "outbound", JOIN_T1),
        ("forward to several new people", T1, {CAROL, DAVE}, "outbound", NEW),
        ("compare ignores case and spaces", T1, {" Bob@ACME.example "}, "outbound", JOIN_T1),
        ("bcc-only outbound has no new audience", T1, frozenset(), "outbound", JOIN_T1),
    ],
)
def test_decide_thread(
    case: str,
    parent: ThreadFacts | None,
    participants: set[str] | frozenset[str],
    direction: Literal["inbound", "outbound"],
    expected: ThreadDecision,
) -> None:
    assert decide_thread(parent, frozenset(participants), direction) == expected, case


@pytest.mark.parametrize(
    ("participants", "expected"),
    [
        ({ALICE, CAROL}, NEW),  # the sender took part, but that says nothing about Carol
        ({ALICE, BOB}, JOIN_T1),
        ({ALICE}, JOIN_T1),  # mail to oneself: no new audience
        ({"ALICE@us.example", CAROL}, NEW),
    ],
)
def test_outbound_sender_is_excluded(participants: set[str], expected: ThreadDecision) -> None:
    assert decide_thread(T1, frozenset(participants), "outbound", sender=ALICE) == expected


def test_thread_participants_are_folded_too() -> None:
    parent = ThreadFacts(thread_id="t2", participants=frozenset({"Bob@Acme.Example"}))
    assert decide_thread(parent, frozenset({BOB}), "outbound") == ThreadDecision(True, "t2")


def test_worked_example_from_the_docstring() -> None:
    # Bob replies to Alice's tracked email: joins.
    assert decide_thread(T1, frozenset({ALICE}), "inbound", sender=BOB).join
    # Months later Alice forwards Bob's reply to Carol: a new thread on Carol's record.
    assert decide_thread(T1, frozenset({ALICE, CAROL}), "outbound", sender=ALICE) == NEW
    # The same forward with Bob in Cc stays in T1.
    assert decide_thread(T1, frozenset({CAROL, BOB}), "outbound", sender=ALICE) == JOIN_T1
