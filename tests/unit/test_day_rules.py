"""Pure rules of issue 14, table-driven: connect errors in plain words, a To line cut into its
entries, where a reply's own text ends and its quoted history begins."""

from __future__ import annotations

import errno

import pytest

from inboxlink.domain.connect_text import parenthetical, socket_text, starttls_hint
from inboxlink.domain.quoted import snippet, split_quoted
from inboxlink.domain.recipients import split_recipients


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (
            errno.ECONNREFUSED,
            "nothing accepts connections at h:1 (the connection was refused): check the port",
        ),
        (errno.EHOSTUNREACH, "the network has no route to h:1: check the server name"),
        (None, "the OS's words"),
        (errno.EPERM, "the OS's words"),
    ],
)
def test_socket_errors_in_words(number: int | None, expected: str) -> None:
    assert socket_text(number, "h:1", "the OS's words") == expected


@pytest.mark.parametrize(
    ("reason", "security", "side", "advice"),
    [
        (
            "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)",
            "tls",
            "imap",
            "usual on port 143",
        ),
        ("record layer failure (_ssl.c:1000) RECORD_LAYER_FAILURE", "tls", "smtp", "usual on port 587"),
        ("certificate verify failed", "tls", "imap", ""),  # a certificate problem is not a port problem
        ("WRONG_VERSION_NUMBER", "starttls", "imap", ""),  # STARTTLS already chosen
    ],
)
def test_starttls_is_suggested_only_for_a_plaintext_answer_to_tls(
    reason: str, security: str, side: str, advice: str
) -> None:
    hint = starttls_hint(reason, security, side, 1)
    assert (advice in hint and "STARTTLS" in hint) if advice else hint == ""


@pytest.mark.parametrize(
    ("server_text", "expected"),
    [("Authentication failed.", " (Authentication failed)"), ("", ""), (None, ""), ("  no.. ", " (no)")],
)
def test_server_words_quoted_without_a_doubled_stop(server_text: str | None, expected: str) -> None:
    assert parenthetical(server_text) == expected


@pytest.mark.parametrize(
    ("raw", "entries"),
    [
        ("bob@example.test, not an address", ["bob@example.test", "not an address"]),
        ('"Lee, Bo" <b@y.test>; a@x.test', ['"Lee, Bo" <b@y.test>', "a@x.test"]),
        ("Ann <a,b@x.test>", ["Ann <a,b@x.test>"]),
        (" , ,a@x.test,, ", ["a@x.test"]),
        ("", []),
    ],
)
def test_recipients_are_cut_at_separators_outside_quotes_and_brackets(raw: str, entries: list[str]) -> None:
    assert split_recipients(raw) == entries


@pytest.mark.parametrize(
    ("text", "own", "quoted"),
    [
        (
            "Yes.\n\nOn Tue, 1 Dec 2026, Sam <s@x.test> wrote:\n> offer\n",
            "Yes.",
            "On Tue, 1 Dec 2026, Sam <s@x.test> wrote:\n> offer\n",
        ),
        (
            "Tak.\nW dniu 1.12.2026 Sam napisał:\n> oferta\n",
            "Tak.",
            "W dniu 1.12.2026 Sam napisał:\n> oferta\n",
        ),
        (
            "Ja.\nAm 01.12.2026 um 10:00 schrieb Sam:\n> Angebot\n",
            "Ja.",
            "Am 01.12.2026 um 10:00 schrieb Sam:\n> Angebot\n",
        ),
        (
            "Oui.\nLe 1 déc. 2026, Sam a écrit :\n> offre\n",
            "Oui.",
            "Le 1 déc. 2026, Sam a écrit :\n> offre\n",
        ),
        ("Fine.\n> a\n> b\n", "Fine.", "> a\n> b\n"),
        (
            "He said\n> this\nand I disagree.\n",
            "He said\n> this\nand I disagree.\n",
            "",
        ),  # inline quote stays
        ("> only a quote\n", "> only a quote\n", ""),  # nothing of its own: shown as it is
    ],
)
def test_quoted_history_is_split_off(text: str, own: str, quoted: str) -> None:
    assert split_quoted(text) == (own, quoted)


def test_snippet_is_the_reply_on_one_line_and_bounded() -> None:
    assert snippet("Thursday\nworks.\n\nOn Mon, Sam wrote:\n> hi\n") == "Thursday works."
    long = snippet("word " * 100, limit=20)
    assert len(long) == 20 and long.endswith("…")
