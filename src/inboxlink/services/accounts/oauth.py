"""Connecting an inbox with OAuth2 (docs/api.md, "OAuth2 mailboxes"): start the authorization code
flow with PKCE and a one-time state bound to the user, then — on the callback — exchange the code,
read the address from the id_token, log in to IMAP *and* SMTP with XOAUTH2, and only then save the
inbox (or replace the grant of the inbox being reconnected).

A state is stored only as its SHA-256, with the user, the provider, the inbox being reconnected and
the encrypted PKCE verifier; it expires after STATE_TTL and is consumed by a guarded UPDATE, so a
reused, forged or expired state saves nothing. What happened is written onto the state row
(`outcome`) and shown by the settings page of the user who started the flow.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from inboxlink import oauth_client
from inboxlink.config import OAuthClient
from inboxlink.domain.providers import OAUTH_PROVIDERS, OAuthProvider, explain_refusal
from inboxlink.services.accounts import inboxes as inbox_service
from inboxlink.services.accounts.endpoints import Endpoint
from inboxlink.services.accounts.oauth_grants import store_grant
from inboxlink.services.accounts.probes import probe_imap, probe_smtp
from inboxlink.services.accounts.users import Caller, caller_for_user_id
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, as_utc, now
from inboxlink.services.validation import normalise_address
from inboxlink.smtp import SmtpServer
from inboxlink.storage.db import new_id
from inboxlink.storage.tables import inboxes, notifications, oauth_states

STATE_TTL = timedelta(minutes=10)

# Outcomes without a state row to write them on (the state itself is the problem).
STATE_PROBLEMS = {
    "invalid_state": "This sign-in link is not one inboxlink started (the state is unknown), so nothing was saved. Start again with the Connect button.",
    "state_used": "This sign-in was already completed once; a sign-in link works only once, so nothing was saved. Start again with the Connect button if the inbox is not connected.",
    "state_expired": "This sign-in took longer than 10 minutes and expired, so nothing was saved. Start again with the Connect button.",
}


class ProviderNotConfigured(ServiceError):
    status = 404


@dataclass(frozen=True)
class Outcome:
    code: str  # connected | reconnected | invalid_state | state_used | state_expired | provider_error | …
    message: str
    ref: int | None = None  # the state row holding it (None for the STATE_PROBLEMS)
    inbox_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.code in {"connected", "reconnected"}


def configured(rt: Runtime) -> list[OAuthProvider]:
    """The providers whose client is configured: only these get a button and the API."""
    return [p for key, p in OAUTH_PROVIDERS.items() if key in rt.settings.oauth]


def redirect_uri(rt: Runtime) -> str:
    return rt.settings.public_url + "/oauth/callback"


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "replace")).hexdigest()


def _client(rt: Runtime, provider: str) -> tuple[OAuthProvider, OAuthClient]:
    client = rt.settings.oauth.get(provider)
    if client is None:
        raise ProviderNotConfigured(
            "provider_not_configured",
            f"Connecting with {provider!r} is not set up on this server: an administrator sets "
            f"INBOXLINK_OAUTH_{provider.upper()}_CLIENT_ID and _CLIENT_SECRET (see docs/oauth.md).",
            field="provider",
        )
    return OAUTH_PROVIDERS[provider], client


async def start_authorization(
    rt: Runtime, caller: Caller, provider: str, body: dict[str, Any]
) -> dict[str, object]:
    spec, client = _client(rt, provider)
    inbox_id = body.get("inbox_id")
    if inbox_id is not None:
        if not isinstance(inbox_id, int) or isinstance(inbox_id, bool):
            raise ServiceError(
                "invalid_field", "inbox_id must be the id of one of your inboxes.", field="inbox_id"
            )
        await inbox_service.owned_inbox_row(rt, caller, inbox_id)  # 404 for anyone else's
    state = secrets.token_urlsafe(32)
    verifier, challenge = oauth_client.new_verifier()
    async with rt.engine.begin() as conn:
        # Old flows go; a state is worth nothing after STATE_TTL anyway.
        await conn.execute(delete(oauth_states).where(oauth_states.c.expires_at < now() - timedelta(days=1)))
        await conn.execute(
            oauth_states.insert().values(
                state_hash=_hash(state),
                user_id=caller.user_id,
                team_id=caller.team_id,
                provider=provider,
                inbox_id=inbox_id,
                verifier=rt.box.encrypt(verifier.encode()),
                expires_at=now() + STATE_TTL,
                created_at=now(),
            )
        )
    url = oauth_client.authorization_url(
        client.authorize_url,
        client_id=client.client_id,
        redirect_uri=redirect_uri(rt),
        scopes=spec.scopes,
        state=state,
        challenge=challenge,
        extra=spec.authorize_params,
    )
    return {"authorization_url": url}


async def _consume(rt: Runtime, state: object) -> tuple[Any, Outcome | None]:
    """The state's row once it is used up here, or the problem with it."""
    if not isinstance(state, str) or not state:
        return None, Outcome("invalid_state", STATE_PROBLEMS["invalid_state"])
    async with rt.engine.begin() as conn:
        row = (
            await conn.execute(select(oauth_states).where(oauth_states.c.state_hash == _hash(state)))
        ).first()
        if row is None:
            return None, Outcome("invalid_state", STATE_PROBLEMS["invalid_state"])
        if row.used_at is not None:
            return None, Outcome("state_used", STATE_PROBLEMS["state_used"])
        if as_utc(row.expires_at) <= now():  # type: ignore[operator]
            return None, Outcome("state_expired", STATE_PROBLEMS["state_expired"])
        used = await conn.execute(
            oauth_states.update()
            .where(oauth_states.c.id == row.id, oauth_states.c.used_at.is_(None))
            .values(used_at=now())
        )
        if used.rowcount != 1:  # a second callback racing this one
            return None, Outcome("state_used", STATE_PROBLEMS["state_used"])
    return row, None


async def finish_authorization(rt: Runtime, query: Mapping[str, str]) -> Outcome:
    row, problem = await _consume(rt, query.get("state"))
    if problem is not None:
        return problem
    try:
        outcome = await _complete(rt, row, query)
    except ServiceError as exc:
        outcome = Outcome(exc.code, exc.message)
    outcome = Outcome(outcome.code, outcome.message, row.id, outcome.inbox_id)
    async with rt.engine.begin() as conn:
        await conn.execute(
            oauth_states.update()
            .where(oauth_states.c.id == row.id)
            .values(outcome={"code": outcome.code, "message": outcome.message, "inbox_id": outcome.inbox_id})
        )
    return outcome


async def outcome_for(rt: Runtime, caller: Caller, ref: str | None) -> Outcome | None:
    """What the settings page says after a callback: only the caller's own flows."""
    if not ref:
        return None
    if ref in STATE_PROBLEMS:
        return Outcome(ref, STATE_PROBLEMS[ref])
    if not ref.isdigit():
        return None
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                select(oauth_states.c.id, oauth_states.c.outcome).where(
                    oauth_states.c.id == int(ref), oauth_states.c.user_id == caller.user_id
                )
            )
        ).first()
    if row is None or not row.outcome:
        return None
    return Outcome(row.outcome["code"], row.outcome["message"], row.id, row.outcome.get("inbox_id"))


def _address(spec: OAuthProvider, client: OAuthClient, tokens: oauth_client.TokenSet) -> str:
    claims = tokens.id_claims
    audience = claims.get("aud")
    if audience is not None and client.client_id not in (
        audience if isinstance(audience, list) else [audience]
    ):
        raise ServiceError(
            "id_token_invalid", f"{spec.label} returned an id_token issued to another application."
        )
    for claim in spec.address_claims:
        value = claims.get(claim)
        if isinstance(value, str) and "@" in value:
            return normalise_address(value, field="email").lower()
    raise ServiceError(
        "address_missing",
        f"{spec.label} did not say which mailbox you signed in to (no email in the id_token). "
        "Check that the app asks for the “openid email” scopes (docs/oauth.md).",
    )


async def _complete(rt: Runtime, state: Any, query: Mapping[str, str]) -> Outcome:
    spec, client = _client(rt, state.provider)
    if query.get("error"):
        detail = query.get("error_description", "")[:300]
        return Outcome(
            "provider_error",
            f"{spec.label} did not grant access ({query['error']}{': ' + detail if detail else ''}), so nothing "
            "was saved."
            + (
                " You declined the request; start again and allow access."
                if query["error"] == "access_denied"
                else ""
            ),
        )
    caller = await caller_for_user_id(rt, state.user_id)
    code = query.get("code")
    if caller is None or not code:
        return Outcome("invalid_request", f"{spec.label} sent no authorization code, so nothing was saved.")
    try:
        tokens = await oauth_client.exchange_code(
            client.token_url,
            client_id=client.client_id,
            client_secret=client.client_secret,
            code=code,
            verifier=rt.box.decrypt(state.verifier).decode(),
            redirect_uri=redirect_uri(rt),
            ssl_context=rt.https_context(),
        )
    except oauth_client.TokenRefused as exc:
        return Outcome(
            "grant_failed", explain_refusal(spec.key, exc.error, exc.description) + " Nothing was saved."
        )
    except oauth_client.TokenEndpointUnavailable as exc:
        return Outcome(
            "provider_unreachable",
            f"{spec.label} could not be reached ({exc}); nothing was saved. Try again in a moment.",
        )
    address = _address(spec, client, tokens)
    if tokens.refresh_token is None:
        return Outcome(
            "no_refresh_token",
            f"{spec.label} granted access without a refresh token, so inboxlink could not stay connected; nothing was saved. "
            "Remove inboxlink's access in your account's security settings and connect again.",
        )
    if state.inbox_id is not None:
        try:
            inbox = await inbox_service.owned_inbox_row(rt, caller, state.inbox_id)
        except NotFound:
            return Outcome(
                "inbox_gone", "The inbox you were reconnecting was removed meanwhile; nothing was saved."
            )
        if inbox.email.lower() != address:
            return Outcome(
                "wrong_account",
                f"You signed in to {spec.label} as {address}, but this inbox is {inbox.email}; nothing was saved. "
                f"Reconnect and choose the account {inbox.email}.",
            )
    (imap_host, imap_port, imap_sec), (smtp_host, smtp_port, smtp_sec) = client.imap, client.smtp
    probe = await probe_imap(
        rt, Endpoint(imap_host, imap_port, imap_sec), address, "", access_token=tokens.access_token
    )
    await probe_smtp(
        rt,
        SmtpServer(smtp_host, smtp_port, smtp_sec, address, "", access_token=tokens.access_token),  # type: ignore[arg-type]
    )
    # The inbox's own secret names the grant: a new grant changes it like a new password does, so
    # a failure seen with the old one cannot undo the reconnect (health.mark_disconnected).
    marker = rt.box.encrypt(json.dumps({"oauth_grant": secrets.token_hex(16)}).encode())
    servers = {
        "imap_host": imap_host, "imap_port": imap_port, "imap_security": imap_sec,
        "smtp_host": smtp_host, "smtp_port": smtp_port, "smtp_security": smtp_sec,
    }  # fmt: skip
    async with rt.engine.begin() as conn:
        if state.inbox_id is None:
            result = await conn.execute(
                inboxes.insert().values(
                    team_id=caller.team_id,
                    user_id=caller.user_id,
                    email=address,
                    username=address,
                    secret=marker,
                    status="connected",
                    sent_folder=probe.sent_folder,
                    created_at=now(),
                    auth="oauth2",
                    provider=spec.key,
                    **servers,
                )
            )
            inbox_id = new_id(result)
        else:
            inbox_id = state.inbox_id
            await conn.execute(
                inboxes.update()
                .where(inboxes.c.id == inbox_id, inboxes.c.deleted_at.is_(None))
                .values(
                    username=address, secret=marker, status="connected", disconnect_reason=None,
                    disconnected_at=None, last_error=None, next_retry_at=None,
                    sent_folder=probe.sent_folder or inbox.sent_folder, auth="oauth2", provider=spec.key,
                    **servers,
                )
            )  # fmt: skip
            await conn.execute(
                notifications.update()
                .where(notifications.c.inbox_id == inbox_id, notifications.c.resolved_at.is_(None))
                .values(resolved_at=now())
            )
        await store_grant(rt, conn, inbox_id, spec.key, tokens)
        # Reconnect: followed folders keep their cursor, so what arrived meanwhile is logged.
        await inbox_service._start_cursors(conn, inbox_id, probe, keep_existing=state.inbox_id is not None)
    rt.inboxes_changed.set()
    if state.inbox_id is None:
        return Outcome("connected", f"{address} is connected with {spec.label}.", inbox_id=inbox_id)
    return Outcome(
        "reconnected",
        f"{address} is reconnected with {spec.label}; replies that arrived meanwhile are being logged.",
        inbox_id=inbox_id,
    )
