"""Provider habits as data (domain/providers.py, domain/connection_refusals.py), table-driven."""

from __future__ import annotations

import pytest

from inboxlink.domain.connection_refusals import explain_connection_limit, is_connection_limit
from inboxlink.domain.providers import GENERIC, SERVER_HABITS, followed_folders, idle_renewal, server_habits
from inboxlink.domain.sent_folder import choose_sent_folder

NONE: frozenset[str] = frozenset()


@pytest.mark.parametrize(
    ("imap_host", "smtp_host", "oauth", "greeting", "caps", "key"),
    [
        ("imap.gmail.com", "smtp.gmail.com", None, "", NONE, "gmail"),  # app password, no OAuth
        ("IMAP.GMAIL.COM.", "", None, "", NONE, "gmail"),
        ("mail.example.com", "smtp.gmail.com", None, "", NONE, "gmail"),  # Workspace relay
        ("10.0.0.5", "", None, "Gimap ready", frozenset({"X-GM-EXT-1"}), "gmail"),
        ("", "", "google", "", NONE, "gmail"),
        ("outlook.office365.com", "smtp.office365.com", None, "", NONE, "microsoft"),
        ("imap-mail.outlook.com", "", None, "", NONE, "microsoft"),
        ("mail.contoso.test", "", None, "The Microsoft Exchange IMAP4 service is ready.", NONE, "microsoft"),
        ("", "", "microsoft", "", NONE, "microsoft"),
        ("imap.mail.me.com", "smtp.mail.me.com", None, "", NONE, "icloud"),
        ("p33-imap.mail.me.com.example", "", None, "", frozenset({"AUTH=ATOKEN"}), "icloud"),
        ("imap.mail.yahoo.com", "", None, "", NONE, "yahoo"),
        ("imap.example.com", "smtp.example.com", None, "Dovecot ready.", frozenset({"IDLE"}), "other"),
        ("gmail.com.attacker.test", "", None, "", NONE, "other"),  # exact hosts, not substrings
    ],
)  # fmt: skip
def test_server_habits_are_found_by_host_oauth_capability_or_greeting(
    imap_host: str, smtp_host: str, oauth: str | None, greeting: str, caps: frozenset[str], key: str
) -> None:
    habits = server_habits(imap_host, smtp_host, oauth, greeting=greeting, capabilities=caps)
    assert habits.key == key


@pytest.mark.parametrize(
    ("key", "files_sent_copy", "sent", "cap"),
    [
        ("gmail", True, "[Gmail]/Sent Mail", 15),
        ("microsoft", True, "Sent Items", 20),
        ("icloud", False, "Sent Messages", None),
        ("yahoo", False, "Sent", None),
        ("other", False, None, None),
    ],
)
def test_what_each_provider_is_known_for(
    key: str, files_sent_copy: bool, sent: str | None, cap: int | None
) -> None:
    habits = {h.key: h for h in (*SERVER_HABITS, GENERIC)}[key]
    assert habits.files_sent_copy is files_sent_copy
    assert (habits.sent_names[0] if habits.sent_names else None) == sent
    assert habits.max_connections == cap


@pytest.mark.parametrize(
    ("key", "configured", "renewal"),
    [
        ("microsoft", 50 * 60, 25 * 60),  # below Exchange's 30-minute cut, whatever is configured
        ("microsoft", 10 * 60, 10 * 60),  # a shorter configured restart stays
        ("yahoo", 25 * 60, 3 * 60),  # EmailEngine renews Yahoo's IDLE every 3 minutes
        ("gmail", 25 * 60, 25 * 60),
        ("other", 25 * 60, 25 * 60),
    ],
)
def test_idle_renewal(key: str, configured: float, renewal: float) -> None:
    habits = {h.key: h for h in (*SERVER_HABITS, GENERIC)}[key]
    assert idle_renewal(habits, configured) == renewal


@pytest.mark.parametrize(
    ("key", "sent_folder", "followed"),
    [
        ("gmail", "[Gmail]/Sent Mail", ["[Gmail]/Sent Mail", "INBOX"]),
        ("gmail", "[Gmail]/All Mail", ["INBOX"]),  # every message again: never followed
        ("gmail", "[google mail]/all mail", ["INBOX"]),
        ("other", "[Gmail]/All Mail", ["[Gmail]/All Mail", "INBOX"]),  # only Gmail's is Gmail's
        ("microsoft", "Sent Items", ["Sent Items", "INBOX"]),
        ("other", None, ["INBOX"]),
    ],
)
def test_followed_folders(key: str, sent_folder: str | None, followed: list[str]) -> None:
    habits = {h.key: h for h in (*SERVER_HABITS, GENERIC)}[key]
    assert followed_folders(habits, sent_folder) == followed


def boxes(*items: tuple[str, set[str]] | str) -> list[tuple[str, frozenset[str]]]:
    return [(item, NONE) if isinstance(item, str) else (item[0], frozenset(item[1])) for item in items]


@pytest.mark.parametrize(
    ("host", "mailboxes", "expected"),
    [
        # iCloud lists no special-use attributes; another app made a "Sent" beside "Sent Messages".
        ("imap.mail.me.com", boxes("INBOX", "Sent", "Sent Messages", "Deleted Messages"), "Sent Messages"),
        ("imap.example.com", boxes("INBOX", "Sent", "Sent Messages"), "Sent"),  # elsewhere: generic rules
        ("outlook.office365.com", boxes("INBOX", "Sent", "Sent Items"), "Sent Items"),
        ("outlook.office365.com", boxes("INBOX", ("Gesendete Elemente", {"\\Sent"})), "Gesendete Elemente"),
        # Gmail: by \Sent; All Mail (\All) is never taken, whatever its name says.
        ("imap.gmail.com", boxes(("[Gmail]/All Mail", {"\\All"}), ("[Gmail]/Sent Mail", {"\\Sent"})), "[Gmail]/Sent Mail"),
        ("imap.gmail.com", boxes("INBOX", "[Gmail]/Sent Mail"), "[Gmail]/Sent Mail"),
        ("imap.example.com", boxes(("Sent (all)", {"\\All"})), None),
    ],
)  # fmt: skip
def test_sent_folder_with_the_providers_names(
    host: str, mailboxes: list[tuple[str, frozenset[str]]], expected: str | None
) -> None:
    assert choose_sent_folder(mailboxes, server_habits(host).sent_names) == expected


@pytest.mark.parametrize(
    ("text", "code", "limit"),
    [
        ("Too many simultaneous connections. (Failure)", "ALERT", True),  # Gmail
        ("Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)", None, True),
        ("[LIMIT] Too many concurrent sessions", None, True),
        ("Server busy", "LIMIT", True),
        ("Too many connections from this IP", None, True),
        ("Connection is closed. 13", None, False),  # Exchange's idle cut: not the cap
        ("Invalid credentials (Failure)", "AUTHENTICATIONFAILED", False),
        (None, None, False),
    ],
)
def test_connection_limit_refusals(text: str | None, code: str | None, limit: bool) -> None:
    assert is_connection_limit(text, code) is limit


def test_connection_limit_is_explained_in_words() -> None:
    text = explain_connection_limit("Too many simultaneous connections. (Failure)", 15, 125)
    assert "too many are already open for this mailbox" in text and "allows 15" in text
    assert text.endswith("inboxlink tries again in 2 minutes.")
    assert "allows" not in explain_connection_limit(
        None, None, 30
    ) and "30 seconds" in explain_connection_limit(None, None, 30)
