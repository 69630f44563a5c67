"""Pure CRM rules, table-driven: free mail, subdomains, root domains and names (domain.companies),
the pipeline, amounts, the BCC deal rule (domain.deals), CSV rows (domain.csv_rows)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inboxlink.domain.companies import (
    address_domain,
    company_domain_for,
    is_free_mail,
    name_from_domain,
    new_company_domain,
    normalise_domain,
    root_domain,
)
from inboxlink.domain.csv_rows import CONTACT_FIELDS, company_row, contact_row, map_columns
from inboxlink.domain.deals import (
    DEFAULT_PIPELINE,
    Stage,
    check_pipeline,
    deal_for_logged_mail,
    first_open_stage,
    parse_amount,
    parse_currency,
)

FREE = [
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "live.com",
    "live.de", "yahoo.com", "yahoo.co.jp", "yahoo.com.br", "icloud.com", "me.com", "aol.com", "gmx.de",
    "gmx.net", "gmx.at", "web.de", "proton.me", "protonmail.com", "mail.ru", "yandex.ru", "yandex.kz",
    "qq.com", "163.com", "wp.pl", "o2.pl", "onet.pl", "interia.pl", "mail.yahoo.co.jp",
]  # fmt: skip
BUSINESS = [
    "acme.com",
    "eu.acme.com",
    "acme.co.uk",
    "livenation.com",
    "yahoo-inc.example",
    "gmxcorp.de",
    "acme.test",
]


@pytest.mark.parametrize("domain", FREE)
def test_free_mail_never_makes_a_company(domain):
    assert is_free_mail(domain)
    assert new_company_domain(domain) is None
    assert company_domain_for(domain, {domain}) is None


@pytest.mark.parametrize("domain", BUSINESS)
def test_business_domains_are_not_free_mail(domain):
    assert not is_free_mail(domain)


@pytest.mark.parametrize(
    ("domain", "known", "belongs_to"),
    [
        ("acme.com", {"acme.com"}, "acme.com"),
        ("eu.acme.com", {"acme.com"}, "acme.com"),  # only the parent exists
        ("eu.acme.com", {"acme.com", "eu.acme.com"}, "eu.acme.com"),  # the most specific wins
        ("a.b.acme.com", {"acme.com"}, "acme.com"),
        ("acme.com", {"eu.acme.com"}, None),  # a parent does not belong to its subdomain
        ("x.acme.co.uk", {"acme.co.uk"}, "acme.co.uk"),
        ("notacme.com", {"acme.com"}, None),
        ("co.uk", {"co.uk"}, "co.uk"),
    ],
)
def test_company_for_domain(domain, known, belongs_to):
    assert company_domain_for(domain, known) == belongs_to


@pytest.mark.parametrize(
    ("domain", "root", "name"),
    [
        ("acme.com", "acme.com", "Acme"),
        ("eu.acme.com", "acme.com", "Acme"),
        ("x.acme.co.uk", "acme.co.uk", "Acme"),
        ("big-data.com.au", "big-data.com.au", "Big Data"),
        ("my_shop.de", "my_shop.de", "My Shop"),
    ],
)
def test_root_domain_and_name(domain, root, name):
    assert root_domain(domain) == root
    assert name_from_domain(domain) == name


@pytest.mark.parametrize(
    ("raw", "domain"),
    [
        ("ACME.com", "acme.com"),
        ("https://www.acme.com/about", "acme.com"),
        ("acme.com.", "acme.com"),
        ("bob@acme.com", "acme.com"),
        # IDN: the Unicode and the punycode spelling are one domain (one company).
        ("Bücher.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("kim@Bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_normalise_domain(raw, domain):
    assert normalise_domain(raw) == domain


@pytest.mark.parametrize("raw", ["", "acme", "not a domain", "-acme.com", "1.2.3.4", "a" * 64 + ".com"])
def test_not_domains(raw):
    with pytest.raises(ValueError):
        normalise_domain(raw)


def test_address_domain():
    assert address_domain("Bob@EU.Acme.com") == "eu.acme.com"
    assert address_domain("kim@eu.bücher.de") == "eu.xn--bcher-kva.de"
    assert address_domain("nobody") is None


def test_default_pipeline():
    assert [s.key for s in DEFAULT_PIPELINE] == [
        "appointment_scheduled", "qualified", "proposal", "negotiation", "won", "lost",
    ]  # fmt: skip
    assert first_open_stage(DEFAULT_PIPELINE).key == "appointment_scheduled"
    assert check_pipeline(DEFAULT_PIPELINE) is None


@pytest.mark.parametrize(
    ("stages", "problem"),
    [
        ([], "1 to"),
        ([Stage("won", "Won", "won")], "open stage"),
        ([Stage("a", "A"), Stage("a", "B")], "unique"),
        ([Stage("A b", "A")], "lower-case"),
        ([Stage("a", " ")], "label"),
        ([Stage("a", "A"), Stage("w", "W", "won"), Stage("v", "V", "won")], "at most one won"),
    ],
)
def test_bad_pipelines(stages, problem):
    assert problem in (check_pipeline(stages) or "")


@pytest.mark.parametrize(
    ("raw", "amount"),
    [(5000, Decimal("5000.00")), (0.1, Decimal("0.10")), ("12.5", Decimal("12.50")), (0, Decimal("0.00"))],
)
def test_amounts(raw, amount):
    assert parse_amount(raw) == amount


@pytest.mark.parametrize("raw", [-1, 1.234, "abc", True, None, float("nan"), 10**15, "1e400"])
def test_bad_amounts(raw):
    with pytest.raises(ValueError):
        parse_amount(raw)


def test_currency():
    assert parse_currency(" eur ") == "EUR"
    with pytest.raises(ValueError):
        parse_currency("euro")


@pytest.mark.parametrize(("deals", "chosen"), [([], None), ([7], 7), ([7, 7], 7), ([7, 8], None)])
def test_bcc_mail_goes_on_the_only_open_deal(deals, chosen):
    assert deal_for_logged_mail(deals) == chosen


def test_hubspot_columns_are_recognised():
    header = [
        "\ufeffEmail",
        "First Name",
        "Last Name",
        "Company Name",
        "Company Domain Name",
        "Phone Number",
        "X",
    ]
    assert map_columns(header, CONTACT_FIELDS) == {
        "email": 0, "first_name": 1, "last_name": 2, "company": 3, "domain": 4, "phone": 5,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (["", "A"], "email is empty"),
        (["not-an-address", "A"], "not an email address"),
        (["a@b.test", "A\nB"], "one line"),
        (["a@b.test", "A", "bad domain!"], "not a domain"),
        (["a@b.test", "A", "", "call me"], "not a phone"),
    ],
)
def test_bad_contact_rows(row, error):
    columns = {"email": 0, "first_name": 1, "domain": 2, "phone": 3}
    with pytest.raises(ValueError, match=error):
        contact_row(row, columns)


def test_contact_and_company_rows():
    row = contact_row(
        ["Bob@Acme.test", "Bob", "Buyer", "+49 30 1234"],
        {"email": 0, "first_name": 1, "last_name": 2, "phone": 3},
    )
    assert (row.email, row.name, row.phone, row.domain) == ("bob@acme.test", "Bob Buyer", "+49 30 1234", None)
    assert company_row(["Acme", "www.acme.test"], {"name": 0, "domain": 1}).domain == "acme.test"
    with pytest.raises(ValueError):
        company_row(["", ""], {"name": 0, "domain": 1})
