import pytest

from inboxlink.domain.sent_folder import choose_sent_folder, looks_like_sent

NONE: frozenset[str] = frozenset()


def boxes(*items: tuple[str, set[str]] | str) -> list[tuple[str, frozenset[str]]]:
    return [(item, NONE) if isinstance(item, str) else (item[0], frozenset(item[1])) for item in items]


@pytest.mark.parametrize(
    ("mailboxes", "expected"),
    [
        # RFC 6154 attribute wins over names, whatever the folder is called.
        (boxes("INBOX", "Sent", ("Gesendet von mir", {"\\HasNoChildren", "\\Sent"})), "Gesendet von mir"),
        (boxes("INBOX", ("[Gmail]/Sent Mail", {"\\HasNoChildren", "\\Sent"}), "Sent"), "[Gmail]/Sent Mail"),
        # Flag compare is case-insensitive (servers vary).
        (boxes("INBOX", ("Verzonden items", {"\\SENT"})), "Verzonden items"),
        (boxes("INBOX", ("Sent Items", {"\\sent"})), "Sent Items"),
        # A \Sent mailbox that cannot be selected is skipped; names are the fallback.
        (boxes(("Sent", {"\\Sent", "\\Noselect"}), "INBOX.Sent"), "INBOX.Sent"),
        (boxes(("Sent", {"\\Sent", "\\NonExistent"})), None),
        (boxes(("Sent", {"\\NOSELECT"}), "Sent Items"), "Sent Items"),
        # Name fallbacks.
        (boxes("INBOX", "Drafts", "Sent Items", "Trash"), "Sent Items"),
        (boxes("INBOX", "[Gmail]/Sent Mail"), "[Gmail]/Sent Mail"),
        (boxes("INBOX", "INBOX.Sent"), "INBOX.Sent"),
        (boxes("INBOX", "SENT"), "SENT"),
        (boxes("INBOX", "Sent Messages"), "Sent Messages"),
        # Shallower folder beats a nested archive, whatever the listing order.
        (boxes("Archive/Sent 2019", "Sent"), "Sent"),
        (boxes("INBOX", "Sent", "Sent Items"), "Sent"),  # same depth → listing order
        # Not Sent folders, although the letters "sent" appear.
        (boxes("INBOX", "Unsent", "Consent forms", "Presentations", "Sentry alerts"), None),
        (boxes("INBOX", "Drafts", "Trash", "Junk"), None),
        ([], None),
    ],
)
def test_choose_sent_folder(mailboxes: list[tuple[str, frozenset[str]]], expected: str | None) -> None:
    assert choose_sent_folder(mailboxes) == expected


@pytest.mark.parametrize(
    "name",
    [
        "Sent",
        "sent",
        "Sent Items",
        "SentItems",
        "Sent-Mail",
        "[Gmail]/Sent Mail",
        "[Google Mail]/Gesendet",
        "INBOX.Sent",
        "INBOX/Sent Messages",
        "Gesendet",
        "Gesendete Elemente",
        "Gesendete Objekte",
        "Envoyés",
        "Éléments envoyés",
        "ELEMENTS ENVOYES",  # accents dropped by the server or the user
        "Messages envoyés",
        "Wysłane",
        "Elementy wysłane",
        "Wyslane",
        "Enviados",
        "Elementos enviados",
        "Itens Enviados",
        "Inviati",
        "Posta inviata",
        "Verzonden",
        "Verzonden items",
        "Skickat",
        "Skickade objekt",
        "Sendt",
        "Sendte elementer",
        "Lähetetyt",
        "Lähetetyt kohteet",
        "Odeslaná pošta",
        "Elküldött elemek",
        "Отправленные",
        "INBOX.Отправленные",
        "Απεσταλμένα",
        "送信済み",
        "送信済みアイテム",
        "已发送",
        "寄件備份",
        "보낸 편지함",
    ],
)
def test_names_that_look_like_sent(name: str) -> None:
    assert looks_like_sent(name)
    assert choose_sent_folder([("INBOX", NONE), (name, NONE)]) == name


@pytest.mark.parametrize(
    "name",
    ["INBOX", "Drafts", "Entwürfe", "Unsent", "Consent", "Presentations", "Sentiment", "Trash", "Sent/2019"],
)
def test_names_that_do_not(name: str) -> None:
    # "Sent/2019": the leaf is "2019"; a child of Sent is not the Sent folder.
    assert not looks_like_sent(name)
