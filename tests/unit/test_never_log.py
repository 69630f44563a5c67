import pytest

from inboxlink.domain.never_log import InvalidEntry, NeverLog, internal_only, normalise_entry


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Someone@Example.COM", "someone@example.com"),
        ("  example.com  ", "example.com"),
        ("@Example.com", "example.com"),
        ("Bücher.Example", "xn--bcher-kva.example"),
        ("anna@Bücher.example", "anna@xn--bcher-kva.example"),
        ("example.com.", "example.com"),
    ],
)
def test_entries_are_stored_folded(raw: str, stored: str) -> None:
    assert normalise_entry(raw) == stored


@pytest.mark.parametrize(
    "raw", ["", "   ", "com", "a b.com", "@", "x@", "@@x.com", "a@b..c", 7, None, "x" * 400]
)
def test_bad_entries_are_refused(raw: object) -> None:
    with pytest.raises(InvalidEntry):
        normalise_entry(raw)


@pytest.mark.parametrize(
    ("entries", "address", "covered"),
    [
        ({"example.com"}, "x@example.com", True),
        ({"example.com"}, "x@sub.example.com", True),
        ({"example.com"}, "x@deep.sub.EXAMPLE.com", True),
        ({"example.com"}, "x@notexample.com", False),
        ({"example.com"}, "x@example.com.evil.org", False),
        ({"sub.example.com"}, "x@example.com", False),
        ({"anna@example.com"}, "ANNA@Example.Com", True),
        ({"anna@example.com"}, "bob@example.com", False),
        ({"xn--bcher-kva.example"}, "anna@bücher.example", True),
        ({"anna@bücher.example"}, "anna@bücher.example", True),  # stored as typed (forget did)
        ({"anna@bücher.example"}, "ANNA@xn--bcher-kva.example", True),
        ({"Bücher.Example"}, "x@sub.bücher.example", True),
        ({"xn--bcher-kva.example"}, "anna@BÜCHER.example", True),
        ({"anna@xn--bcher-kva.example"}, "Anna@bücher.example", True),
        ({"example.com"}, "", False),
        ({"example.com"}, "not-an-address", False),
        (set(), "x@example.com", False),
    ],
)
def test_covers(entries: set[str], address: str, covered: bool) -> None:
    assert NeverLog.of(entries).covers(address) is covered


def test_keep_leaves_the_others_in_order() -> None:
    rules = NeverLog.of({"listed.example", "one@other.example"})
    assert rules.keep(["a@x.example", "b@listed.example", "one@other.example", "two@other.example"]) == [
        "a@x.example",
        "two@other.example",
    ]


@pytest.mark.parametrize(
    ("addresses", "domains", "internal"),
    [
        (["a@us.example", "b@us.example"], ["us.example"], True),
        (["a@us.example", "b@eu.us.example"], ["us.example"], True),
        (["a@us.example", "c@them.example"], ["us.example"], False),
        (["a@us.example", "b@ours.example"], ["us.example", "ours.example"], True),
        (["a@us.example"], [], False),
        ([], ["us.example"], False),
        (["a@us.example", ""], ["us.example"], True),
    ],
)
def test_internal_only(addresses: list[str], domains: list[str], internal: bool) -> None:
    assert internal_only(addresses, domains) is internal


@pytest.mark.parametrize(
    ("error", "address"),
    [
        ({"message": "RCPT <joerg@bücher.de>: 550", "recipients": ["joerg@bücher.de"]}, "joerg@bücher.de"),
        (
            {"message": "RCPT <joerg@xn--bcher-kva.de>: 550", "recipients": ["JOERG@xn--bcher-kva.de"]},
            "joerg@bücher.de",
        ),
        (
            {"message": "bob@example.test: 550 User unknown", "recipients": ["bob@example.test"]},
            "bob@example.test",
        ),
    ],
)
def test_a_forgotten_address_leaves_send_errors_in_every_form(error: dict, address: str) -> None:
    from inboxlink.services.crm.forget import _scrubbed_error

    cleaned, changed = _scrubbed_error(error, address)
    assert changed and cleaned["recipients"] == []
    text = str(cleaned).lower()
    assert address.split("@")[0] not in text, cleaned
