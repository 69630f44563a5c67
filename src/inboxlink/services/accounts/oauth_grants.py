"""An inbox's OAuth2 grant: stored encrypted, refreshed before it expires, one refresh at a time.

    oauth_grants row: secret = SecretBox({"refresh_token", "access_token"}), access_expires_at,
                      generation (grows with every refresh and every new grant), refresh_claim_until

A refresh is claimed with a guarded UPDATE (same generation, no live claim), so of N workers on
PostgreSQL — or N tasks in one process — exactly one talks to the token endpoint; the others wait
for the generation to move and use its result. The new tokens (a rotated refresh token included)
replace the old ones in the UPDATE that ends the claim. A claim outlives the HTTP timeout (20 s), so a
refresher that died only delays the next one by CLAIM seconds.

Refusals: invalid_client / unauthorized_client → `oauth_client_invalid` (an administrator renews the
secret; the monitor keeps retrying and recovers by itself); any other refusal (invalid_grant: revoked,
password reset, 7-day testing expiry, long unused) → `access_revoked`. Unreachable endpoint, 5xx →
TokenUnavailable (transient: the caller backs off).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink import oauth_client
from inboxlink.domain.providers import explain_refusal, refusal_kind
from inboxlink.services.accounts.health import mark_disconnected
from inboxlink.services.platform.runtime import Runtime, as_utc, now
from inboxlink.storage.tables import oauth_grants

CLAIM = 60.0  # seconds a refresh claim holds (the token request times out after 20 s)
WAIT_STEP = 0.1
WAIT_ROUNDS = int(CLAIM / WAIT_STEP) + 50


class GrantRevoked(Exception):
    """The grant no longer works; the inbox has been marked disconnected (access_revoked)."""


class TokenUnavailable(Exception):
    """No fresh token now (token endpoint unreachable, 5xx, our client refused): try again later."""


def _due(grant: Any) -> datetime:
    expires = as_utc(grant.access_expires_at)
    assert expires is not None
    return expires - timedelta(seconds=refresh_margin(grant.access_lifetime))


def refresh_margin(lifetime: int) -> float:
    """How long before expiry to refresh: a quarter of the lifetime, 5 s to 5 min."""
    return min(300.0, max(5.0, lifetime / 4))


def _sealed(rt: Runtime, refresh_token: str, access_token: str) -> bytes:
    return rt.box.encrypt(json.dumps({"refresh_token": refresh_token, "access_token": access_token}).encode())


async def store_grant(
    rt: Runtime, conn: AsyncConnection, inbox_id: int, provider: str, tokens: oauth_client.TokenSet
) -> None:
    """Save a new grant for the inbox (first connect or reconnect), replacing any old one."""
    assert tokens.refresh_token is not None
    values = {
        "provider": provider,
        "secret": _sealed(rt, tokens.refresh_token, tokens.access_token),
        "access_expires_at": now() + timedelta(seconds=tokens.expires_in),
        "access_lifetime": tokens.expires_in,
        "refresh_claim_until": None,
        "updated_at": now(),
    }
    old = await conn.scalar(select(oauth_grants.c.generation).where(oauth_grants.c.inbox_id == inbox_id))
    if old is None:
        await conn.execute(oauth_grants.insert().values(inbox_id=inbox_id, generation=0, **values))
    else:
        await conn.execute(
            oauth_grants.update()
            .where(oauth_grants.c.inbox_id == inbox_id)
            .values(generation=old + 1, **values)
        )


async def _load(rt: Runtime, inbox_id: int) -> Any:
    async with rt.engine.connect() as conn:
        return (await conn.execute(select(oauth_grants).where(oauth_grants.c.inbox_id == inbox_id))).first()


async def refresh_due_in(rt: Runtime, inbox: Any) -> float | None:
    grant = await _load(rt, inbox.id)
    if grant is None:
        return None
    return max(0.0, (_due(grant) - now()).total_seconds())


async def access_token(rt: Runtime, inbox: Any, *, stale: str | None = None) -> str:
    """A fresh access token for the inbox. `stale`: a token a server just refused; it is refreshed
    unless another worker replaced it meanwhile. Raises GrantRevoked or TokenUnavailable."""
    for _ in range(WAIT_ROUNDS):
        grant = await _load(rt, inbox.id)
        if grant is None:
            raise GrantRevoked("the inbox has no OAuth grant (it was removed)")
        tokens = json.loads(rt.box.decrypt(grant.secret))
        if tokens["access_token"] != stale and now() < _due(grant):
            return str(tokens["access_token"])
        if await _claim(rt, grant):
            fresh = await _refresh(rt, inbox, grant, tokens["refresh_token"])
            if fresh is not None:
                return fresh
            continue  # the grant was replaced meanwhile (a reconnect): start over with the new one
        await asyncio.sleep(WAIT_STEP)  # another worker is refreshing: its result will be ours
    raise TokenUnavailable("another worker has been refreshing this inbox's access token for too long")


async def _claim(rt: Runtime, grant: Any) -> bool:
    stamp = now()
    async with rt.engine.begin() as conn:
        claimed = await conn.execute(
            oauth_grants.update()
            .where(
                oauth_grants.c.inbox_id == grant.inbox_id,
                oauth_grants.c.generation == grant.generation,
                or_(oauth_grants.c.refresh_claim_until.is_(None), oauth_grants.c.refresh_claim_until < stamp),
            )
            .values(refresh_claim_until=stamp + timedelta(seconds=CLAIM))
        )
    return claimed.rowcount == 1


async def _release(rt: Runtime, grant: Any) -> None:
    async with rt.engine.begin() as conn:
        await conn.execute(
            oauth_grants.update()
            .where(oauth_grants.c.inbox_id == grant.inbox_id, oauth_grants.c.generation == grant.generation)
            .values(refresh_claim_until=None)
        )


async def _refresh(rt: Runtime, inbox: Any, grant: Any, refresh_token: str) -> str | None:
    client = rt.settings.oauth.get(grant.provider)
    if client is None:
        await _release(rt, grant)
        raise TokenUnavailable(
            f"the {grant.provider} OAuth client is not configured any more (INBOXLINK_OAUTH_"
            f"{grant.provider.upper()}_CLIENT_ID): an administrator must set it again"
        )
    try:
        tokens = await oauth_client.refresh(
            client.token_url,
            client_id=client.client_id,
            client_secret=client.client_secret,
            refresh_token=refresh_token,
            ssl_context=rt.https_context(),
        )
    except oauth_client.TokenRefused as exc:
        await _release(rt, grant)
        text = explain_refusal(grant.provider, exc.error, exc.description)
        if refusal_kind(exc.error) == "client":
            await mark_disconnected(
                rt, inbox.id, "oauth_client_invalid", text, used_secret=bytes(inbox.secret)
            )
            raise TokenUnavailable(text) from exc
        await mark_disconnected(rt, inbox.id, "access_revoked", text, used_secret=bytes(inbox.secret))
        raise GrantRevoked(text) from exc
    except oauth_client.TokenEndpointUnavailable as exc:
        await _release(rt, grant)
        raise TokenUnavailable(f"{grant.provider}: {exc}") from exc
    except BaseException:
        await _release(rt, grant)
        raise
    async with rt.engine.begin() as conn:
        stored = await conn.execute(
            oauth_grants.update()
            .where(oauth_grants.c.inbox_id == grant.inbox_id, oauth_grants.c.generation == grant.generation)
            .values(
                # A rotated refresh token replaces the old one in this same statement; without one
                # (Google) the old one stays valid.
                secret=_sealed(rt, tokens.refresh_token or refresh_token, tokens.access_token),
                access_expires_at=now() + timedelta(seconds=tokens.expires_in),
                access_lifetime=tokens.expires_in,
                generation=grant.generation + 1,
                refresh_claim_until=None,
                updated_at=now(),
            )
        )
    return tokens.access_token if stored.rowcount == 1 else None
