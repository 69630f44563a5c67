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
  pair until the oldest failure is 5 minutes old, and 20 per address from anywhere lock the address
  for browsers it does not know. Behind a reverse proxy every client has the proxy's IP, so the
  limit then applies per address.
* Device cookies (OWASP's "Slow down online guessing attacks with device cookies"): a successful
  sign-in leaves a signed, long-lived `il_device` cookie naming the address. A browser presenting a
  valid one for the address it signs in as is counted on its own (5 failures lock that cookie), not
  with the anonymous attempts: someone guessing from elsewhere cannot lock the owner's known
  browser out, and guesses without the cookie are still limited per account. A forged or foreign
  cookie counts as no cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response

from inboxlink.domain.attempts import SlidingWindow
from inboxlink.services.platform.runtime import Runtime

SESSION_COOKIE = "il_session"
CSRF_COOKIE = "il_csrf"
DEVICE_COOKIE = "il_device"
SESSION_DAYS = 14
DEVICE_DAYS = 365
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


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that treats any text as a mismatch: `hmac.compare_digest` raises
    TypeError on non-ASCII str, which a hostile cookie or form value would turn into a 500."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


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
        if not _same(mac, self._mac("session", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            user_id, epoch, expires = int(data["u"]), int(data.get("e", 0)), int(data["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        return (user_id, epoch) if expires > time.time() else None

    def device_value(self, address: str) -> str:
        """A device cookie: the address signed in as, a random nonce (the cookie's identity in the
        throttle) and an expiry, signed."""
        expires = int(time.time()) + DEVICE_DAYS * 86400
        data = {"a": _address(address), "n": secrets.token_urlsafe(16), "exp": expires}
        payload = _b64(json.dumps(data).encode())
        return f"{payload}.{self._mac('device', payload)}"

    def device_nonce(self, value: str | None, address: str) -> str | None:
        """The nonce of a valid, unexpired device cookie issued for `address`; else None."""
        if not value or "." not in value or len(value) > 512:
            return None
        payload, mac = value.rsplit(".", 1)
        if not _same(mac, self._mac("device", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            owner, nonce, expires = str(data["a"]), str(data["n"]), int(data["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        return nonce if owner == _address(address) and expires > time.time() else None

    def csrf_token(self, nonce: str, session: str | None = None) -> str:
        # Bound to the session cookie too: someone who can plant cookies (a sibling subdomain, a
        # plain-http network) cannot pair their own nonce and token with the victim's session.
        return self._mac("csrf", f"{nonce}|{session or ''}")

    def csrf_ok(self, nonce: str | None, token: str | None, session: str | None = None) -> bool:
        expected = self.csrf_token(nonce or "", session)
        return bool(nonce and token) and _same(expected, token or "")


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


def remember_device(request: Request, response: Response, signer: Signer, address: str) -> None:
    """After a successful sign-in: this browser is known for `address` (a fresh nonce each time)."""
    response.set_cookie(
        DEVICE_COOKIE,
        signer.device_value(address),
        max_age=DEVICE_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/login",  # only the sign-in form needs it
    )


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


ACCOUNT_FACTOR = 4  # attempts per account from all IPs together, as a multiple of the per-IP limit


def _address(email: str) -> str:
    return email.strip().lower()[:320]


class SignInThrottle:
    """Failed sign-ins in sliding windows; in memory (one process). Without a device cookie: per
    (address, IP) and per address from anywhere (a higher bar, so rotating IPs or X-Forwarded-For
    values does not buy more guesses). With a valid device cookie: per cookie only."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._per_ip = SlidingWindow(limit, window)
        self._per_account = SlidingWindow(limit * ACCOUNT_FACTOR, window)
        self._per_device = SlidingWindow(limit, window)

    def _buckets(self, email: str, ip: str, device: str | None) -> list[tuple[SlidingWindow, object]]:
        if device is not None:
            return [(self._per_device, device)]
        address = _address(email)
        return [(self._per_ip, (address, ip)), (self._per_account, address)]

    def wait_minutes(self, email: str, ip: str, device: str | None = None) -> int:
        """0 when a sign-in may be tried, else whole minutes until the lock lifts. `device` is the
        nonce of a valid device cookie for this address (Signer.device_nonce), or None."""
        now = time.monotonic()
        return max(window.wait_minutes(key, now) for window, key in self._buckets(email, ip, device))

    def attempt(self, email: str, ip: str, device: str | None = None) -> None:
        """Counted *before* the password is checked, so concurrent guesses cannot all slip in
        under the limit while the first ones are still being verified."""
        now = time.monotonic()
        for window, key in self._buckets(email, ip, device):
            window.hit(key, now)

    def succeeded(self, email: str, ip: str, device: str | None = None) -> None:
        """The owner's sign-in clears this browser's count (its device cookie, or its address+IP
        pair) and takes back its own attempt from the count per account, but not the guesses
        before it: signing in must not hand a guesser a fresh allowance."""
        if device is not None:
            self._per_device.clear(device)
            return
        address = _address(email)
        self._per_ip.clear((address, ip))
        self._per_account.forget_newest(address)
