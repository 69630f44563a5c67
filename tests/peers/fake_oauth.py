"""A FAKE OAuth2 / OpenID Connect provider: it stands in for Google's and Microsoft's web endpoints,
which cannot run here. Everything else in the OAuth tests is real: Dovecot checks the tokens this fake
issues through its `oauth2` passdb (RFC 7662 introspection), the provider SMTP peer checks AUTH
XOAUTH2 against it, and inboxlink talks to it over HTTPS verified with the suite's CA.

What it does, like the real ones:
- GET  /authorize  approves at once as `approve_as` (no login page) and redirects to redirect_uri
  with code + state, or with `error=` when `deny_with` is set; checks client, redirect URI, S256.
- POST /token      authorization_code (PKCE verifier checked against the challenge, code one-time,
  redirect_uri must match) and refresh_token (rotation when `rotate` is on; reusing a rotated refresh
  token is invalid_grant *and* revokes the family, as Entra and Auth0 do). Access tokens live
  `access_lifetime` seconds. Client authentication by form fields or HTTP Basic; a wrong secret is
  401 invalid_client. `down` answers 503.
- POST /revoke     RFC 7009; `revoke_user()` does the same for every grant of an address.
- POST /introspect RFC 7662 for Dovecot: {"active": true, "username": ...} for a live access token.
The id_token is a JWT whose payload carries the address (`email`, or only `preferred_username` for a
client registered with email_claim=False, like an Entra work account without the optional claim).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .net import HOST, free_ports


@dataclass
class _Client:
    secret: str
    email_claim: bool


@dataclass
class _Refresh:
    user: str
    client_id: str
    family: str
    state: str = "active"  # active | rotated | revoked


@dataclass
class FakeOAuthProvider:
    cert_file: str
    key_file: str
    access_lifetime: float = 3600.0
    rotate: bool = True
    down: bool = False
    approve_as: str | None = None
    deny_with: str | None = None
    clients: dict[str, _Client] = field(default_factory=dict)
    refreshes: dict[str, int] = field(default_factory=dict)  # address → refresh grants served
    issued: list[str] = field(default_factory=list)  # every token handed out (tests grep for them)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, dict[str, str]] = {}
        self._access: dict[str, tuple[str, float]] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._revoked_families: set[str] = set()
        (self.port,) = free_ports(1)
        self.base_url = f"https://127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer((HOST, self.port), _handler(self))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-oauth", daemon=True)
        self._thread.start()

    # ---- test controls ----

    def register(self, client_id: str, secret: str, *, email_claim: bool = True) -> None:
        self.clients[client_id] = _Client(secret, email_claim)

    def revoke_user(self, address: str) -> None:
        """The user removed the app's access (or an admin reset the password): every refresh and
        access token of the address stops working."""
        with self._lock:
            for refresh in self._refresh.values():
                if refresh.user == address:
                    refresh.state = "revoked"
                    self._revoked_families.add(refresh.family)
            for token, (user, _) in list(self._access.items()):
                if user == address:
                    del self._access[token]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return self.base_url + path

    # ---- the endpoints' logic (called from the handler threads) ----

    def active_user(self, access_token: str) -> str | None:
        with self._lock:
            entry = self._access.get(access_token)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]

    def authorize(self, query: dict[str, str]) -> str:
        client = self.clients.get(query.get("client_id", ""))
        redirect = query.get("redirect_uri", "")
        if client is None or not redirect:
            raise _HttpError(400, {"error": "invalid_request", "error_description": "unknown client"})
        state = query.get("state", "")
        if self.deny_with:
            return redirect + "?" + urlencode({"error": self.deny_with, "state": state})
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            raise _HttpError(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
        if "openid" not in query.get("scope", "").split() or self.approve_as is None:
            raise _HttpError(400, {"error": "invalid_scope"})
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "client_id": query["client_id"],
                "redirect_uri": redirect,
                "challenge": query.get("code_challenge", ""),
                "user": self.approve_as,
            }
        return redirect + "?" + urlencode({"code": code, "state": state})

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        if self.down:
            raise _HttpError(503, {"error": "temporarily_unavailable"})
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        client = self.clients.get(client_id)
        if client is None or client.secret != secret:
            raise _HttpError(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000222: The provided client secret keys are expired.",
                },
            )
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)
                if (
                    code is None
                    or code["client_id"] != client_id
                    or code["redirect_uri"] != form.get("redirect_uri")
                ):
                    raise _HttpError(400, {"error": "invalid_grant", "error_description": "bad code"})
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                if digest.decode() != code["challenge"]:
                    raise _HttpError(
                        400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
                    )
                return self._issue(code["user"], client_id, client, secrets.token_hex(8), with_id_token=True)
            if grant == "refresh_token":
                refresh = self._refresh.get(form.get("refresh_token", ""))
                if refresh is None or refresh.client_id != client_id:
                    raise _HttpError(
                        400, {"error": "invalid_grant", "error_description": "unknown refresh token"}
                    )
                if refresh.state != "active" or refresh.family in self._revoked_families:
                    # A rotated token used again: someone else may hold the family; end all of it.
                    self._revoked_families.add(refresh.family)
                    raise _HttpError(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "AADSTS70000: the grant has been revoked",
                        },
                    )
                self.refreshes[refresh.user] = self.refreshes.get(refresh.user, 0) + 1
                if self.rotate:
                    refresh.state = "rotated"
                    return self._issue(refresh.user, client_id, client, refresh.family, with_id_token=False)
                answer = self._issue(
                    refresh.user, client_id, client, refresh.family, with_id_token=False, new_refresh=False
                )
                return answer
        raise _HttpError(400, {"error": "unsupported_grant_type"})

    def revoke(self, token: str) -> None:
        with self._lock:
            refresh = self._refresh.get(token)
            if refresh is not None:
                refresh.state = "revoked"
                self._revoked_families.add(refresh.family)
            self._access.pop(token, None)

    def _issue(
        self,
        user: str,
        client_id: str,
        client: _Client,
        family: str,
        *,
        with_id_token: bool,
        new_refresh: bool = True,
    ) -> dict[str, Any]:
        access = "ya29.fake-" + secrets.token_urlsafe(32)
        self._access[access] = (user, time.time() + self.access_lifetime)
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_lifetime),
            "scope": "https://mail.google.com/ openid email",
        }
        self.issued.append(access)
        if new_refresh:
            refresh = "1//fake-refresh-" + secrets.token_urlsafe(32)
            self._refresh[refresh] = _Refresh(user, client_id, family)
            answer["refresh_token"] = refresh
            self.issued.append(refresh)
        if with_id_token:
            claims: dict[str, Any] = {
                "iss": self.base_url,
                "aud": client_id,
                "sub": hashlib.sha256(user.encode()).hexdigest()[:20],
                "iat": int(time.time()),
                "exp": int(time.time()) + 3600,
                "preferred_username": user,
            }
            if client.email_claim:
                claims["email"] = user
                claims["email_verified"] = True
            answer["id_token"] = _jwt(claims)
        return answer


class _HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "RS256", "kid": "fake"}).encode())
    payload = _b64(json.dumps(claims).encode())
    return f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"


def _handler(fake: FakeOAuthProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: tokens must not reach logs
            pass

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode()
            return {k: v[0] for k, v in parse_qs(raw).items()}

        def _basic(self) -> tuple[str, str] | None:
            scheme, _, value = (self.headers.get("authorization") or "").partition(" ")
            if scheme.lower() != "basic":
                return None
            user, _, password = base64.b64decode(value).decode().partition(":")
            from urllib.parse import unquote_plus

            return unquote_plus(user), unquote_plus(password)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/authorize":
                self._json(404, {"error": "not_found"})
                return
            try:
                location = fake.authorize({k: v[0] for k, v in parse_qs(parts.query).items()})
            except _HttpError as exc:
                self._json(exc.status, exc.body)
                return
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            form = self._form()
            try:
                if path == "/token":
                    self._json(200, fake.token(form, self._basic()))
                elif path == "/revoke":
                    fake.revoke(form.get("token", ""))
                    self._json(200, {})
                elif path == "/introspect":
                    token = form.get("token", "")
                    user = fake.active_user(token)
                    self._json(200, {"active": True, "username": user} if user else {"active": False})
                else:
                    self._json(404, {"error": "not_found"})
            except _HttpError as exc:
                self._json(exc.status, exc.body)

    return Handler
