"""Who is never logged: addresses and domains on a never-log list, and the "internal domains" rule.

An entry is an address (`someone@example.com`) or a domain (`example.com`); a domain covers its
subdomains (`x@sub.example.com`). Matching is case-insensitive and IDN-safe: domains are compared in
their ASCII (IDNA / punycode) form, so `bücher.example` and `xn--bcher-kva.example` are one entry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_ENTRY = 320  # an address's longest legal form (RFC 5321 path + a little), a domain's is shorter


class InvalidEntry(ValueError):
    pass


def ascii_domain(domain: str) -> str | None:
    """The domain in lower-case ASCII form, or None when it cannot be one (empty labels, spaces...)."""
    domain = domain.strip().rstrip(".").lower()
    if not domain or len(domain) > 253 or any(c.isspace() or c in "@/\\<>\"'," for c in domain):
        return None
    try:
        # The IDNA 2003 codec of the standard library: enough to fold Unicode labels to punycode.
        encoded = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = encoded.split(".")
    if any(not label or len(label) > 63 for label in labels):
        return None
    return encoded


def normalise_address(address: str) -> str | None:
    """`local@domain` with the domain in ASCII form and everything lower-cased, or None."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return None
    folded = ascii_domain(domain)
    return None if folded is None else f"{local.lower()}@{folded}"


def normalise_entry(value: object) -> str:
    """A list entry in its stored form; InvalidEntry says why it is not one."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ENTRY:
        raise InvalidEntry("an address (name@example.com) or a domain (example.com)")
    text = value.strip()
    if text.startswith("@"):
        text = text[1:]  # "@example.com" is how some people write a whole domain
    if "@" in text:
        address = normalise_address(text)
        if address is None or any(c.isspace() for c in address):
            raise InvalidEntry(f"{value!r} is not an email address")
        return address
    domain = ascii_domain(text)
    if domain is None or "." not in domain:
        raise InvalidEntry(f"{value!r} is neither an address nor a domain")
    return domain


def _folded_entry(value: str) -> str:
    try:
        return normalise_entry(value)
    except InvalidEntry:
        return value.strip().lower()


def _domains_of(domain: str) -> list[str]:
    """`a.b.example.com` → itself and every parent domain down to `example.com` (and `com`)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


@dataclass(frozen=True)
class NeverLog:
    """The entries that apply to one user: the team's and the user's own."""

    entries: frozenset[str] = frozenset()

    @classmethod
    def of(cls, values: Iterable[str]) -> NeverLog:
        """Entries folded as `covers` folds addresses: an entry stored in another form (forget once
        stored `anna@bücher.de` as typed) still matches."""
        return cls(frozenset(_folded_entry(v) for v in values))

    def covers(self, address: str) -> bool:
        if not self.entries or not address:
            return False
        folded = normalise_address(address)
        if folded is None:
            return False
        if folded in self.entries:
            return True
        return any(d in self.entries for d in _domains_of(folded.rpartition("@")[2]))

    def keep(self, addresses: Iterable[str]) -> list[str]:
        """The addresses not covered, in order."""
        return [a for a in addresses if not self.covers(a)]


def in_domains(address: str, domains: Iterable[str]) -> bool:
    folded = normalise_address(address)
    if folded is None:
        return False
    own = set(domains)
    return any(d in own for d in _domains_of(folded.rpartition("@")[2]))


def internal_only(addresses: Iterable[str], internal_domains: Iterable[str]) -> bool:
    """Mail among the team's own domain(s) only: every address is in one of them (and there is one)."""
    domains = [d for d in internal_domains if d]
    people = [a for a in addresses if a]
    return bool(domains) and bool(people) and all(in_domains(a, domains) for a in people)
