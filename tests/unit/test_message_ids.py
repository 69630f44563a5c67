import re

import pytest

from inboxlink.domain.message_ids import (
    MAX_ID_LENGTH,
    REFERENCES_TAIL,
    new_message_id,
    normalise,
    parse_id_list,
    trim_references,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<abc@example.com>", "abc@example.com"),
        ("  <abc@example.com>  ", "abc@example.com"),
        ("abc@example.com", "abc@example.com"),
        ("<abc@example.com", "abc@example.com"),  # truncated header
        ("abc@example.com>", "abc@example.com"),
        ("\r\n <abc@example.com>", "abc@example.com"),  # value starts on a continuation line (Outlook)
        ("<abc@exa\r\n mple.com>", "abc@example.com"),  # broken folding inside the id
        ("<abc@example.com> (Bob's message of today)", "abc@example.com"),
        ("(comment first) <abc@example.com>", "abc@example.com"),
        ("<abc@example.com> (nested (comment) with <other@x.org>)", "abc@example.com"),
        ("(only <fake@x.org> in a comment) <real@x.org>", "real@x.org"),
        ("<CAHx8Wq3=vT6+sE4/fH1uJ2w@mail.gmail.com>", "CAHx8Wq3=vT6+sE4/fH1uJ2w@mail.gmail.com"),
        ("<AbC@Example.COM>", "AbC@Example.COM"),  # case is kept: ids compare exactly
        ("<no-at-sign-but-bracketed>", "no-at-sign-but-bracketed"),
        ("<first@x.org> <second@x.org>", "first@x.org"),
        ("<ünïcode@例え.jp>", "ünïcode@例え.jp"),  # RFC 6532 ids are kept as text
    ],
)
def test_normalise_accepts(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "<>",
        "< >",
        "\r\n ",
        "(just a comment)",
        "unknown",  # bare value without @ is a phrase, not an id
        "<bad\x00id@x.org>",
        "<bad\x7fid@x.org>",
        "<undecodable\ufffd@x.org>",
        "<" + "a" * MAX_ID_LENGTH + "@x.org>",
    ],
)
def test_normalise_rejects_garbage(raw: str) -> None:
    assert normalise(raw) is None


def test_normalise_is_idempotent() -> None:
    once = normalise("  <a.b+c@x.org> (c)")
    assert once is not None
    assert normalise(once) == once


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ()),
        ("", ()),
        ("<a@x> <b@x> <c@x>", ("a@x", "b@x", "c@x")),
        ("<a@x>\r\n <b@x>\r\n\t<c@x>", ("a@x", "b@x", "c@x")),  # folded over lines
        ("<a@x>,<b@x>, <c@x>", ("a@x", "b@x", "c@x")),  # comma separated (some Exchange versions)
        ("<a@x><b@x>", ("a@x", "b@x")),  # no separator at all
        ("<a@x> (comment <z@x>) <b@x>", ("a@x", "b@x")),
        ("a@x", ("a@x",)),  # single bare id
        ("a@x b@x", ("a@x", "b@x")),  # bare ids
        ("a@x, b@x", ("a@x", "b@x")),
        ('Your message of "Mon, 6 May" <a@x>', ("a@x",)),  # RFC 822 phrase form of In-Reply-To
        ("<a@x> <> <b@x>", ("a@x", "b@x")),  # empty id skipped
        ("<a@x> <a@x>", ("a@x", "a@x")),  # duplicates kept; matching dedupes
        ("garbage without ids", ()),
        ("<a@x> <b@x", ("a@x",)),  # truncated last id is dropped, not guessed
    ],
)
def test_parse_id_list(raw: str | None, expected: tuple[str, ...]) -> None:
    assert parse_id_list(raw) == expected


def test_parse_id_list_long_chain_keeps_order() -> None:
    ids = [f"msg{i}@x.org" for i in range(200)]
    assert parse_id_list("\r\n ".join(f"<{i}>" for i in ids)) == tuple(ids)


def test_new_message_id_shape() -> None:
    message_id = new_message_id("crm.example.com")
    assert re.fullmatch(r"\d{13}\.[A-Za-z0-9_-]{24}@crm\.example\.com", message_id)
    assert normalise(message_id) == message_id  # already in stored form
    assert normalise(f"<{message_id}>") == message_id


def test_new_message_id_is_unique_and_unguessable() -> None:
    ids = {new_message_id("x.org") for _ in range(2000)}
    assert len(ids) == 2000
    tokens = {i.split(".", 1)[1].split("@")[0] for i in ids}
    assert len(tokens) == 2000


def test_new_message_id_domain_handling() -> None:
    assert new_message_id(" CRM.Example.com. ").endswith("@crm.example.com")
    assert new_message_id("bücher.example").endswith("@xn--bcher-kva.example")


@pytest.mark.parametrize("domain", ["", "  ", "a b.com", "x.org>", "evil.org\r\nBcc: x@y", "a@b.org"])
def test_new_message_id_rejects_bad_domains(domain: str) -> None:
    with pytest.raises(ValueError):
        new_message_id(domain)


def _ids(n: int) -> tuple[str, ...]:
    return tuple(f"{i}@x.example" for i in range(n))


@pytest.mark.parametrize(
    ("chain", "kept"),
    [
        ((), ()),
        (_ids(1), _ids(1)),
        (_ids(21), _ids(21)),  # the first and 20 newest: nothing to drop yet
        (_ids(22), (_ids(22)[0], *_ids(22)[2:])),
        (_ids(10_000), (_ids(10_000)[0], *_ids(10_000)[-20:])),
    ],
)
def test_trim_references_keeps_the_root_and_the_newest(chain: tuple[str, ...], kept: tuple[str, ...]) -> None:
    assert trim_references(chain) == kept
    assert len(trim_references(chain)) <= REFERENCES_TAIL + 1


def test_trim_references_keeps_the_last_id_last() -> None:
    chain = (*_ids(500), "parent@client.example", "ours@crm.example")
    trimmed = trim_references(chain)
    assert trimmed[-2:] == ("parent@client.example", "ours@crm.example")
    assert trimmed[0] == "0@x.example"
    assert trim_references(chain, tail=3) == ("0@x.example", "499@x.example", *chain[-2:])
