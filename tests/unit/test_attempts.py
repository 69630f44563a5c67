"""domain.attempts.SlidingWindow and domain.server_text.quotable: pure rules, the clock passed in."""

from __future__ import annotations

import pytest

from inboxlink.domain.attempts import SlidingWindow
from inboxlink.domain.server_text import quotable


def test_limit_per_key_within_the_window() -> None:
    window = SlidingWindow(limit=3, window=600)
    for t in (0.0, 10.0, 20.0):
        assert window.wait_seconds("bob", t) == 0
        window.hit("bob", t)
    assert window.wait_seconds("bob", 30.0) == pytest.approx(570.0)
    assert window.wait_minutes("bob", 30.0) == 10
    assert window.wait_seconds("alice", 30.0) == 0  # other keys are not affected
    # the oldest attempt ages out: one more is allowed, then the limit holds again
    assert window.wait_seconds("bob", 600.0) == 0
    window.hit("bob", 600.0)
    assert window.wait_minutes("bob", 601.0) == 1


def test_take_back_forgets_one_attempt_only() -> None:
    window = SlidingWindow(limit=2, window=60)
    window.hit("k", 1.0)
    window.hit("k", 2.0)
    window.take_back("k", 2.0)
    assert window.count("k", 3.0) == 1
    window.take_back("k", 99.0)  # not an attempt of this key: nothing changes
    assert window.count("k", 3.0) == 1


def test_aged_out_keys_are_dropped() -> None:
    window = SlidingWindow(limit=1, window=10)
    for i in range(10_002):
        window.hit(f"spray-{i}", 0.0)
    window.hit("late", 100.0)  # the spray has aged out by now
    assert window.count("late", 100.0) == 1
    assert len(window._stamps) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ""),
        ("", ""),
        ("Authentication failed.", "Authentication failed."),
        ("a\r\nb\tc", "a b c"),
        ("bell\x07 and \x1b[31mred", "bell and [31mred"),
        ("zero\u200bwidth", "zero width"),
        ("Anmeldung fehlgeschlagen – Passwort prüfen", "Anmeldung fehlgeschlagen – Passwort prüfen"),
        ("x" * 300, "x" * 199 + "…"),
    ],
)
def test_quotable(text: str | None, expected: str) -> None:
    assert quotable(text) == expected


def test_forget_newest_keeps_the_earlier_attempts() -> None:
    window = SlidingWindow(limit=3, window=60)
    for t in (1.0, 2.0, 3.0):
        window.hit("k", t)
    window.forget_newest("k")
    assert window.count("k", 4.0) == 2
    window.forget_newest("nobody")  # nothing to forget: no error
