"""domain.network: which addresses a connection made on a user's behalf may reach."""

from __future__ import annotations

import pytest

from inboxlink.domain.network import REASONS, blocked_reason, client_block, is_loopback_host


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        # public Internet: allowed
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("142.250.74.46", None),
        ("100.63.255.255", None),  # just below the shared 100.64/10
        ("100.128.0.0", None),  # just above it
        ("172.15.255.255", None),
        ("172.32.0.0", None),
        ("2a00:1450:4001:82a::200e", None),
        ("2001:4860:4860::8888", None),
        ("2002:808:808::1", None),  # 6to4 of 8.8.8.8
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
        ("::ffff:8.8.8.8", None),
        # IPv4 ranges
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("100.127.255.255", "private"),
        ("169.254.169.254", "link-local"),
        ("169.254.0.1", "link-local"),
        ("192.0.0.8", "reserved"),
        ("192.0.2.10", "reserved"),
        ("198.18.0.1", "reserved"),
        ("198.51.100.7", "reserved"),
        ("203.0.113.9", "reserved"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        # IPv6 ranges
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible form
        ("fc00::1", "private"),
        ("fd12:3456:789a::1", "private"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),  # zone as getaddrinfo returns it
        ("febf:ffff::1", "link-local"),
        ("fec0::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("100::1", "reserved"),
        ("64:ff9b:1::1", "private"),
        # IPv6 forms that carry an IPv4 address: judged by the address inside
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("2002:7f00:1::1", "loopback"),
    ],
)
def test_blocked_reason(address: str, expected: str | None) -> None:
    assert blocked_reason(address) == expected
    if expected is not None:
        assert expected in REASONS  # every reason has words for the error message


@pytest.mark.parametrize("text", ["localhost", "imap.example.com", "2130706433", "", "1.2.3"])
def test_host_names_are_not_addresses(text: str) -> None:
    # Names (and odd numeric forms that only the resolver understands) must be resolved first.
    with pytest.raises(ValueError):
        blocked_reason(text)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("mail.localhost", False),  # a resolver may send it anywhere
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("imap.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback_host(host: str, expected: bool) -> None:
    assert is_loopback_host(host) is expected


@pytest.mark.parametrize(
    ("peer", "unit"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # a dual-stack socket's view of an IPv4 client
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # same /64, same unit
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("?", "?"),
    ],
)
def test_per_client_limits_count_an_ipv6_client_by_its_64(peer: str, unit: str) -> None:
    assert client_block(peer) == unit
