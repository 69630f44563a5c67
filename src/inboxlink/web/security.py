"""Browser sessions, CSRF tokens and sign-in throttling for the web UI.

* Session: a cookie `il_session` = base64url(JSON {user id, expiry}) "." HMAC-SHA256, HttpOnly,
  SameSite=Lax, Secure only when the page itself came over https (a self-hosted install on plain
  http on a LAN must still be able to sign in). The cookie carries the user's session epoch: signing
  out bumps it, which ends every session of that user (a copied cookie included).
* CSRF: every visitor gets a random `il_csrf` cookie; forms and fetch POSTs carry
  HMAC(key, that nonce + the session cookie), checked on every POST (the double-submit pattern with a
  signed token bound to the session, so it also protects the sign-in form, before any session exists).
* The HMAC key is derived from the installation's secret (INBOXLINK_SECRET_KEY or the generated key
  file that the secret box uses), so sessions survive restarts and differ between installations.
* Throttling is in memory, per process: 5 failed sign-ins per address+IP within 5 minutes lock that
  pair until the oldest failure is 5 minutes old. Behind a reverse proxy every client has the
  proxy's IP, so the limit then applies per address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from collections import defaultdict, deque

from starlette.requests import Request
from starlette.responses import Response

from inboxlink.services.platform.runtime import Runtime

SESSION_COOKIE = "il_session"
CSRF_COOKIE = "il_csrf"
SESSION_DAYS = 14
MAX_FAILURES = 5
FAILURE_WINDOW = 300.0


def derive_key(rt: Runtime) -> bytes:
    """A key for signing cookies, separate from (but derived from) the encryption key."""
    material = rt.settings.secret_key
    if not material:
        # Runtime.create has already made this file (SecretBox.load) before the app exists.
        material = (rt.settings.data_dir / "secret.key").read_text().strip()
    first = material.split(",")[0].strip()
    return hmac.new(first.encode(), b"inboxlink web session v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, payload: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}:{payload}".encode(), hashlib.sha256).digest())

    def session_value(self, user_id: int, epoch: int = 0) -> str:
        expires = int(time.time()) + SESSION_DAYS * 86400
        payload = _b64(json.dumps({"u": user_id, "e": epoch, "exp": expires}).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def session_user(self, value: str | None) -> tuple[int, int] | None:
        """(user id, session epoch) of a valid, unexpired cookie; the caller compares the epoch
        with the user's current one (signing out bumps it)."""
        if not value or "." not in value:
            return None
        payload, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            user_id, epoch, expires = int(data["u"]), int(data.get("e", 0)), int(data["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        return (user_id, epoch) if expires > time.time() else None

    def csrf_token(self, nonce: str, session: str | None = None) -> str:
        # Bound to the session cookie too: someone who can plant cookies (a sibling subdomain, a
        # plain-http network) cannot pair their own nonce and token with the victim's session.
        return self._mac("csrf", f"{nonce}|{session or ''}")

    def csrf_ok(self, nonce: str | None, token: str | None, session: str | None = None) -> bool:
        expected = self.csrf_token(nonce or "", session)
        return bool(nonce and token) and hmac.compare_digest(expected, token or "")


def csrf_nonce(request: Request) -> str:
    """The visitor's CSRF nonce: from the cookie, or a new one that `set_cookies` will store."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = getattr(request.state, "new_csrf_nonce", None) or secrets.token_urlsafe(24)
        request.state.new_csrf_nonce = nonce
    return nonce


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookies(request: Request, response: Response) -> None:
    """Store a CSRF nonce made during this request (first visit)."""
    nonce = getattr(request.state, "new_csrf_nonce", None)
    if nonce:
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            max_age=SESSION_DAYS * 86400,  # outlives a browser restart, like the session
            httponly=True,
            samesite="lax",
            secure=_secure(request),
            path="/",
        )


def start_session(request: Request, response: Response, signer: Signer, user_id: int, epoch: int = 0) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        signer.session_value(user_id, epoch),
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    # A fresh CSRF nonce per session: a token seen before sign-in is useless afterwards.
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(24),
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


ACCOUNT_FACTOR = 4  # attempts per account from all IPs together, as a multiple of the per-IP limit


class SignInThrottle:
    """Failed sign-ins per (address, IP) in a sliding window; in memory (one process)."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        stamps = self._failures[key]
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._failures[key]  # keeps the map from growing with one-off typos
            return deque()
        return stamps

    def _keys(self, email: str, ip: str) -> list[tuple[tuple[str, str], int]]:
        # Per address and IP, and per address from anywhere (a higher bar): rotating IPs or
        # X-Forwarded-For values does not buy more guesses at one account.
        address = email.strip().lower()[:320]
        return [((address, ip), self.limit), ((address, "*"), self.limit * ACCOUNT_FACTOR)]

    def wait_minutes(self, email: str, ip: str) -> int:
        """0 when a sign-in may be tried, else whole minutes until the lock lifts."""
        now = time.monotonic()
        waits = [
            max(1, math.ceil((stamps[0] + self.window - now) / 60))
            for key, limit in self._keys(email, ip)
            if len(stamps := self._recent(key, now)) >= limit
        ]
        return max(waits, default=0)

    def attempt(self, email: str, ip: str) -> None:
        """Counted *before* the password is checked, so concurrent guesses cannot all slip in
        under the limit while the first ones are still being verified."""
        if len(self._failures) > 10_000:  # a spray of addresses: drop whatever has aged out
            for stale in list(self._failures):
                self._recent(stale, time.monotonic())
        for key, _limit in self._keys(email, ip):
            stamps = self._recent(key, time.monotonic())
            stamps.append(time.monotonic())
            self._failures[key] = stamps

    def succeeded(self, email: str, ip: str) -> None:
        for key, _limit in self._keys(email, ip):
            self._failures.pop(key, None)
