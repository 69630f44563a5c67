"""Web security pieces: the sign-in throttle counts attempts before the password is checked (per
address and IP, and per address from anywhere), and CSRF tokens are bound to the session."""

from __future__ import annotations

from inboxlink.web.deps import safe_next
from inboxlink.web.security import ACCOUNT_FACTOR, SignInThrottle


def test_attempts_count_before_the_check_so_a_burst_cannot_slip_through() -> None:
    throttle = SignInThrottle(limit=5)
    allowed = 0
    for _ in range(60):  # 60 concurrent requests: each checks, then counts, before any verdict
        if throttle.wait_minutes("a@x.test", "1.2.3.4") == 0:
            throttle.attempt("a@x.test", "1.2.3.4")
            allowed += 1
    assert allowed == 5


def test_rotating_ips_does_not_buy_more_guesses_at_one_account() -> None:
    throttle = SignInThrottle(limit=5)
    allowed = sum(
        1
        for i in range(100)
        if throttle.wait_minutes("A@x.test", f"10.0.0.{i}") == 0
        and throttle.attempt("a@x.test", f"10.0.0.{i}") is None
    )
    assert allowed == 5 * ACCOUNT_FACTOR
    assert throttle.wait_minutes("b@x.test", "10.0.0.1") == 0  # other accounts are not locked


def test_success_clears_the_count() -> None:
    throttle = SignInThrottle(limit=2)
    throttle.attempt("a@x.test", "ip")
    throttle.succeeded("a@x.test", "ip")
    throttle.attempt("a@x.test", "ip")
    assert throttle.wait_minutes("a@x.test", "ip") == 0


def test_a_csrf_token_is_bound_to_the_session() -> None:
    from inboxlink.web.security import Signer

    signer = Signer(b"k" * 32)
    victim, attacker = signer.session_value(1), signer.session_value(2)
    planted = signer.csrf_token("nonce", attacker)  # the attacker's own valid pair...
    assert signer.csrf_ok("nonce", planted, attacker)
    assert not signer.csrf_ok("nonce", planted, victim)  # ...is worthless with the victim's session
    assert signer.csrf_ok("n2", signer.csrf_token("n2"), None)  # before sign-in: nonce only


def test_a_known_device_is_counted_apart_from_anonymous_guesses() -> None:
    throttle = SignInThrottle(limit=5)
    for i in range(5 * ACCOUNT_FACTOR):  # guesses from everywhere lock the account for strangers
        throttle.attempt("a@x.test", f"10.0.0.{i}")
    assert throttle.wait_minutes("a@x.test", "10.9.9.9") > 0
    assert throttle.wait_minutes("a@x.test", "10.9.9.9", device="owner-nonce") == 0
    for _ in range(5):  # the device has a limit of its own
        throttle.attempt("a@x.test", "10.9.9.9", device="owner-nonce")
    assert throttle.wait_minutes("a@x.test", "10.9.9.9", device="owner-nonce") > 0
    assert throttle.wait_minutes("a@x.test", "10.9.9.9", device="other-nonce") == 0


def test_device_cookies_are_signed_and_bound_to_the_address() -> None:
    from inboxlink.web.security import Signer

    signer = Signer(b"k" * 32)
    cookie = signer.device_value("Owner@X.test")
    nonce = signer.device_nonce(cookie, " owner@x.test")
    assert nonce
    assert signer.device_value("owner@x.test") != cookie  # a fresh nonce per sign-in
    assert signer.device_nonce(cookie, "other@x.test") is None
    payload, mac = cookie.rsplit(".", 1)
    assert signer.device_nonce(f"{payload}.{mac[::-1]}", "owner@x.test") is None
    assert Signer(b"j" * 32).device_nonce(cookie, "owner@x.test") is None  # another installation
    assert signer.device_nonce(signer.session_value(1), "owner@x.test") is None  # not a session
    for junk in (None, "", "no-dot", "a.b", "x" * 600):
        assert signer.device_nonce(junk, "owner@x.test") is None


def test_safe_next_keeps_local_paths_only() -> None:
    cases = {
        "/contacts/5#sequences": "/contacts/5#sequences",
        "/sequences/3?x=1": "/sequences/3?x=1",
        "//evil.com": "/fallback",
        "/\\evil.com": "/fallback",  # browsers read a backslash as a slash
        "/\t/evil.com": "/fallback",  # and drop tabs and line breaks
        "/\n/evil.com": "/fallback",
        "https://evil.com": "/fallback",
        "evil.com": "/fallback",
        "": "/fallback",
        None: "/fallback",
    }
    for given, expected in cases.items():
        assert safe_next(given, "/fallback") == expected, given
    assert safe_next("//evil.com") == "/contacts"
