"""Templates: the token language (what is allowed, what is refused), fallbacks, missing tokens,
escaping and the output cap."""

from __future__ import annotations

import pytest

from inboxlink.domain.templates import (
    MAX_OUTPUT_CHARS,
    RenderTooLarge,
    TemplateRefused,
    check_template,
    missing_tokens,
    render,
    split_name,
)

VALUES = {
    "contact": {"first_name": "Zoë", "last_name": "van Dijk", "name": "Zoë van Dijk", "email": "zoe@p.test"},
    "company": {"name": "Prospect & Co"},
    "deal": {},
    "sender": {"name": "Sam Seller", "email": "sam@crm.test"},
}

RENDERS = [
    ("Hi {{ contact.first_name }},", "Hi Zoë,"),
    ("{{ contact.name }} <{{ contact.email }}>", "Zoë van Dijk <zoe@p.test>"),
    ("{{ deal.name | default('your project') }}", "your project"),
    ('{{ deal.name | d("x") }}', "x"),
    ("{{ contact.first_name | default('there') }}", "Zoë"),
    ("{{ company.name | upper }}", "PROSPECT & CO"),
    ("{{ sender.name }} · {{ sender.email }}", "Sam Seller · sam@crm.test"),
    ("{{contact.last_name|lower}}", "van dijk"),
    ("plain text, no tokens", "plain text, no tokens"),
]


@pytest.mark.parametrize(("source", "expected"), RENDERS)
def test_tokens_and_fallbacks_render(source: str, expected: str) -> None:
    assert render(source, VALUES) == expected


def test_html_parts_escape_values() -> None:
    values = {**VALUES, "contact": {"first_name": "<script>alert(1)</script>"}}
    assert render("<p>Hi {{ contact.first_name }}</p>", values, html=True) == (
        "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    )
    assert render("{{ company.name }}", VALUES, html=True) == "Prospect &amp; Co"


REFUSED = [
    ("{{ ''.__class__ }}", "Only tokens"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "Only tokens"),
    ("{{ cycler.__init__.__globals__ }}", "Only tokens"),
    ("{{ joiner.__init__.__globals__.os }}", "Only tokens"),
    ("{{ namespace.__init__ }}", "Only tokens"),
    ("{{ lipsum.__globals__['os'].popen('id').read() }}", "Only tokens"),
    ("{% for i in range(10**9) %}x{% endfor %}", "not allowed"),
    ("{% set x = 1 %}", "not allowed"),
    ("{% include '/etc/passwd' %}", "not allowed"),
    ("{% import 'x' as y %}", "not allowed"),
    ("{% extends 'base.html' %}", "not allowed"),
    ("{% macro m() %}{% endmacro %}", "not allowed"),
    ("{% raw %}{{ x }}{% endraw %}", None),  # raw text is literal data, allowed
    ("{{ 'a' * 100000000 }}", "Only tokens"),
    ("{{ contact }}", "Only tokens"),
    ("{{ contact.items() }}", "Only tokens"),
    ("{{ contact['email'] }}", "Only tokens"),
    ("{{ contact.password }}", "Only tokens"),
    ("{{ config }}", "Only tokens"),
    ("{{ contact.name | attr('__class__') }}", "cannot be used"),
    ("{{ contact.name | format('%s') }}", "cannot be used"),
    ("{{ contact.name | default(contact.email) }}", "A fallback is written"),
    ("{{ contact.name | default('x' ~ 'y') }}", "A fallback is written"),
    ("{{ contact.name | upper('x') }}", "takes no arguments"),
    ("{{ contact.name | default('x', true) }}", "A fallback is written"),
    ("{{ contact.name", "cannot be read"),
    ("x" * 100_001, "at most"),
]


@pytest.mark.parametrize(("source", "message"), REFUSED)
def test_anything_but_tokens_is_refused(source: str, message: str | None) -> None:
    if message is None:
        assert render(source, VALUES) == "{{ x }}"
        return
    with pytest.raises(TemplateRefused, match=message):
        check_template(source)
    with pytest.raises(TemplateRefused):
        render(source, VALUES)


MISSING = [
    ("Hi {{ contact.first_name }}", {"contact": {}}, ["contact.first_name"]),
    ("Hi {{ contact.first_name | default('there') }}", {"contact": {}}, []),
    ("{{ deal.name }} for {{ company.name }}", {"company": {"name": ""}}, ["company.name", "deal.name"]),
    ("{{ deal.name | upper | default('x') }}", {}, []),
    ("{{ deal.name | default('x') | upper }}", {}, []),
    ("{{ sender.name }}", {"sender": {"name": "Sam"}}, []),
    ("{{ contact.email }} {{ contact.email }}", {"contact": {}}, ["contact.email"]),
]


@pytest.mark.parametrize(("source", "values", "missing"), MISSING)
def test_missing_tokens_are_named(source: str, values: dict, missing: list[str]) -> None:
    assert missing_tokens(check_template(source), values) == missing
    if missing:
        with pytest.raises(TemplateRefused):
            render(source, values)


def test_empty_value_uses_the_fallback() -> None:
    values = {"contact": {"first_name": ""}}
    assert render("Hi {{ contact.first_name | default('there') }}", values) == "Hi there"


def test_output_is_capped() -> None:
    big = {"contact": {"name": "x" * (MAX_OUTPUT_CHARS // 4 + 1)}}
    with pytest.raises(RenderTooLarge):
        render("{{ contact.name }}" * 4, big)


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("Zoë van Dijk", ("Zoë", "van Dijk")),
        ("Chris", ("Chris", "")),
        ("", ("", "")),
        ("  A  B ", ("A", "B ")),
    ],
)
def test_split_name(name: str, parts: tuple[str, str]) -> None:
    assert split_name(name) == parts
