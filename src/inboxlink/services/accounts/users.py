"""Users, teams, API tokens and the signed-in caller."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.errors import Conflict, NotFound, ServiceError, Unauthorized
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.services.validation import has_surrogates, normalise_address, valid_unicode
from inboxlink.storage.db import new_id
from inboxlink.storage.tables import api_tokens, teams, users

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Caller:
    user_id: int
    team_id: int
    email: str
    name: str
    is_admin: bool
    bcc_token: str
    session_epoch: int = 0


def _caller(row: object) -> Caller:
    return Caller(
        user_id=row.id,  # type: ignore[attr-defined]
        team_id=row.team_id,  # type: ignore[attr-defined]
        email=row.email,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        is_admin=row.is_admin,  # type: ignore[attr-defined]
        bcc_token=row.bcc_token,  # type: ignore[attr-defined]
        session_epoch=row.session_epoch,  # type: ignore[attr-defined]
    )


async def _team_id(conn: AsyncConnection, name: str) -> int:
    found = await conn.scalar(select(teams.c.id).where(teams.c.name == name))
    if found is not None:
        return int(found)
    result = await conn.execute(teams.insert().values(name=name, created_at=now()))
    return new_id(result)


async def create_user(
    rt: Runtime, email: str, password: str, *, name: str = "", team: str = "default", admin: bool = False
) -> Caller:
    address = normalise_address(email, field="email")
    for field, value in (("password", password), ("name", name), ("team", team)):
        valid_unicode(value, field=field)
    if len(password) < 8:
        raise ServiceError("weak_password", "The password must be at least 8 characters long.")
    team = team.strip() or "default"
    async with rt.engine.begin() as conn:
        team_id = await _team_id(conn, team)
        try:
            await conn.execute(
                users.insert().values(
                    team_id=team_id,
                    email=address,
                    name=name.strip(),
                    password_hash=_hasher.hash(password),
                    is_admin=admin,
                    bcc_token=new_bcc_token(),
                    created_at=now(),
                )
            )
        except IntegrityError as exc:
            raise Conflict("user_exists", f"A user with the address {address} already exists.") from exc
        row = (await conn.execute(select(users).where(users.c.email == address))).one()
    return _caller(row)


def new_bcc_token() -> str:
    # 20 random bytes in base32: unguessable, and valid as an email local part in any case folding.
    return secrets.token_hex(12)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(rt: Runtime, email: str) -> str:
    address = normalise_address(email, field="email")
    token = "ilk_" + secrets.token_urlsafe(32)
    async with rt.engine.begin() as conn:
        user_id = await conn.scalar(select(users.c.id).where(users.c.email == address))
        if user_id is None:
            raise NotFound("user")
        await conn.execute(
            api_tokens.insert().values(user_id=user_id, token_hash=_token_hash(token), created_at=now())
        )
    return token


async def end_web_sessions(rt: Runtime, caller: Caller) -> None:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    async with rt.engine.begin() as conn:
        await conn.execute(
            users.update().where(users.c.id == caller.user_id).values(session_epoch=users.c.session_epoch + 1)
        )


async def revoke_tokens(rt: Runtime, email: str) -> int:
    """Revoke every API token of a user (a leaked token, a person leaving); returns how many."""
    address = normalise_address(email, field="email")
    async with rt.engine.begin() as conn:
        user_id = await conn.scalar(select(users.c.id).where(users.c.email == address))
        if user_id is None:
            raise NotFound("user")
        result = await conn.execute(api_tokens.delete().where(api_tokens.c.user_id == user_id))
    return int(result.rowcount or 0)


async def caller_for_token(rt: Runtime, token: str) -> Caller:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                select(users)
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_hash == _token_hash(token))
            )
        ).first()
    if row is None:
        raise Unauthorized("invalid_token", "The API token is missing, wrong or revoked.")
    return _caller(row)


async def caller_for_user_id(rt: Runtime, user_id: int) -> Caller | None:
    async with rt.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    return None if row is None else _caller(row)


# Argon2 costs ~100 ms of CPU: run it off the event loop, at most two at a time (one per core), so
# a burst of sign-ins slows sign-ins, not every other request of the process.
_hashing = asyncio.Semaphore(2)


async def _off_loop(fn: Callable[..., object], *args: str) -> object:
    async with _hashing:
        return await asyncio.to_thread(fn, *args)


async def check_password(rt: Runtime, email: str, password: str) -> Caller | None:
    """The caller on a right password, else None (same answer for an unknown address)."""
    if has_surrogates(email) or has_surrogates(password):
        return None  # no stored address or password can contain them; hashing them would raise
    async with rt.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.email == email.strip().lower()))).first()
    if row is None:
        # Spend the same time as a real check so timing does not reveal which addresses exist.
        await _off_loop(_hasher.hash, password)
        return None
    try:
        await _off_loop(_hasher.verify, row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return _caller(row)


async def rotate_bcc_token(rt: Runtime, caller: Caller) -> Caller:
    async with rt.engine.begin() as conn:
        await conn.execute(
            users.update().where(users.c.id == caller.user_id).values(bcc_token=new_bcc_token())
        )
        row = (await conn.execute(select(users).where(users.c.id == caller.user_id))).one()
    return _caller(row)


def bcc_address(rt: Runtime, caller: Caller) -> str:
    return f"{caller.bcc_token}@{rt.settings.bcc_domain}"


def me(rt: Runtime, caller: Caller) -> dict[str, object]:
    return {
        "id": caller.user_id,
        "email": caller.email,
        "name": caller.name,
        "team_id": caller.team_id,
        "is_admin": caller.is_admin,
        "bcc_address": bcc_address(rt, caller),
    }
