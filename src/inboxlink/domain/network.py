"""Which network addresses an outbound connection made on a user's behalf may reach.

A mail server name typed into the connect form, and later webhook or OAuth endpoints, are chosen by
a user, yet the connection starts from inside the installation: without a rule, the form reaches
the database on 127.0.0.1, the cloud metadata service on 169.254.169.254 and every host on the
private network. `blocked_reason` says why an address is not a public Internet address, or None.

The rule is a table, checked top to bottom (first match wins), so that adding a range is one row.
IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
`2002::/16`) are judged by the IPv4 address inside, since that is where the packets end up.
Callers must resolve a host name and check *every* address it resolves to, then connect to the
address they checked (a second lookup could answer differently: DNS rebinding).
"""

from __future__ import annotations

import ipaddress

__all__ = ["REASONS", "blocked_reason", "client_block", "is_loopback_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What each reason means, in words a user reads in an error message.
REASONS = {
    "unspecified": "an unspecified address",
    "loopback": "this server itself (loopback)",
    "private": "a private network address",
    "link-local": "a link-local address (such as a cloud metadata service)",
    "multicast": "a multicast address",
    "reserved": "a reserved or documentation address",
}

_V4_RULES: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified"),  # "this network"; 0.0.0.0 reaches the local host on Linux
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "private"),  # shared address space (carrier-grade NAT)
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
    ("192.0.2.0/24", "reserved"),  # TEST-NET-1
    ("192.88.99.0/24", "reserved"),  # 6to4 relay anycast
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),  # benchmarking
    ("198.51.100.0/24", "reserved"),  # TEST-NET-2
    ("203.0.113.0/24", "reserved"),  # TEST-NET-3
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # includes 255.255.255.255 (broadcast)
)

_V6_RULES: tuple[tuple[str, str], ...] = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "reserved"),  # deprecated IPv4-compatible addresses
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    ("100::/64", "reserved"),  # discard-only
    ("2001::/23", "reserved"),  # IETF protocol assignments (Teredo, ORCHID, ...)
    ("2001:db8::/32", "reserved"),  # documentation
    ("fc00::/7", "private"),  # unique local
    ("fe80::/10", "link-local"),
    ("fec0::/10", "private"),  # deprecated site-local
    ("ff00::/8", "multicast"),
)

_V4 = tuple((ipaddress.IPv4Network(net), reason) for net, reason in _V4_RULES)
_V6 = tuple((ipaddress.IPv6Network(net), reason) for net, reason in _V6_RULES)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None


def _parse(address: str | IPAddress) -> IPAddress:
    if isinstance(address, str):
        # getaddrinfo hands back link-local IPv6 with a zone ("fe80::1%eth0"); the zone is no part
        # of the address's scope.
        return ipaddress.ip_address(address.split("%", 1)[0])
    return address


def client_block(address: str) -> str:
    """The unit per-client limits count: an IPv4 address (also inside a mapped IPv6 one), or the /64
    of an IPv6 address — one IPv6 client owns a whole /64 and could otherwise take every session
    with addresses of its own. Text that is not an IP address is its own unit."""
    try:
        ip = _parse(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def blocked_reason(address: str | IPAddress) -> str | None:
    """None for a public Internet address, else a key of REASONS. Raises ValueError for text
    that is not an IP address (resolve host names first)."""
    ip = _parse(address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return blocked_reason(inner)
        rules: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = _V6
    else:
        rules = _V4
    for network, reason in rules:
        if ip in network:
            return reason
    return None


def is_loopback_host(host: str) -> bool:
    """A host name or literal that means this machine without any lookup (no DNS involved)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    # Not "*.localhost": resolvers need not map those to loopback, and a plain-text password
    # may be sent wherever this says "loopback".
    if name in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return blocked_reason(name) == "loopback"
    except ValueError:
        return False
