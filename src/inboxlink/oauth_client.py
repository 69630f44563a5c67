"""The OAuth2 edge: the authorization URL (code flow + PKCE S256) and the token endpoint (code
exchange, refresh) over httpx, TLS verified with the caller's SSL context.

Errors, one tree:
    OAuthError
     ├─ TokenRefused              the endpoint answered an RFC 6749 §5.2 error (.error, .description):
     │                            invalid_grant (revoked, expired), invalid_client (our secret), …
     └─ TokenEndpointUnavailable  network error, timeout, 5xx, or an answer that is not OAuth JSON:
                                  transient, retried with backoff
Tokens are never logged: nothing here logs, and the errors carry only the endpoint's error fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

TIMEOUT = httpx.Timeout(20.0, connect=10.0)


class OAuthError(Exception):
    pass


class TokenRefused(OAuthError):
    def __init__(self, error: str, description: str, status: int) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status


class TokenEndpointUnavailable(OAuthError):
    pass


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None  # None when the provider keeps the old one (Google does)
    expires_in: int
    id_claims: dict[str, Any]  # the id_token's payload ({} without one)

    def __repr__(self) -> str:  # never a token in a traceback or a log line
        return f"TokenSet(expires_in={self.expires_in}, id_claims={sorted(self.id_claims)})"


def new_verifier() -> tuple[str, str]:
    """A PKCE code verifier (RFC 7636: 43-128 unreserved characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
    return verifier, challenge.decode("ascii")


def authorization_url(
    authorize_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str,
    challenge: str,
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", " ".join(scopes)),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        *extra,
    ]
    return authorize_url + ("&" if "?" in authorize_url else "?") + urlencode(params)


def id_token_claims(id_token: str) -> dict[str, Any]:
    """The payload of an id_token received *directly from the token endpoint over verified TLS*: then
    the TLS server check stands in for the signature check (OpenID Connect Core §3.1.3.7, item 6)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise TokenEndpointUnavailable("the token endpoint returned an id_token that is not a JWT") from exc
    if not isinstance(claims, dict):
        raise TokenEndpointUnavailable("the token endpoint returned an id_token that is not a JWT")
    return claims


async def _post(token_url: str, form: dict[str, str], ssl_context: ssl.SSLContext) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(verify=ssl_context, timeout=TIMEOUT, follow_redirects=False) as http:
            response = await http.post(token_url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        # The exception text names the URL at most, never the form.
        raise TokenEndpointUnavailable(
            f"the token endpoint could not be reached ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 500 or not isinstance(body, dict):
        raise TokenEndpointUnavailable(f"the token endpoint answered HTTP {response.status_code}")
    if response.status_code != 200 or "error" in body:
        raise TokenRefused(
            str(body.get("error") or f"http_{response.status_code}"),
            str(body.get("error_description") or "")[:500],
            response.status_code,
        )
    if not isinstance(body.get("access_token"), str):
        raise TokenEndpointUnavailable("the token endpoint's answer has no access_token")
    return body


def _token_set(body: dict[str, Any]) -> TokenSet:
    id_token = body.get("id_token")
    try:
        expires_in = int(body.get("expires_in") or 3600)
    except (TypeError, ValueError):
        expires_in = 3600
    return TokenSet(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None,
        expires_in=max(1, expires_in),
        id_claims=id_token_claims(id_token) if isinstance(id_token, str) else {},
    )


async def exchange_code(
    token_url: str,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    verifier: str,
    redirect_uri: str,
    ssl_context: ssl.SSLContext,
) -> TokenSet:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return _token_set(await _post(token_url, form, ssl_context))


async def refresh(
    token_url: str, *, client_id: str, client_secret: str, refresh_token: str, ssl_context: ssl.SSLContext
) -> TokenSet:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return _token_set(await _post(token_url, form, ssl_context))
