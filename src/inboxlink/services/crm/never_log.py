"""Never-log lists (team: admins; personal: each user) and the team's privacy settings (internal
domains, retention). `rules_for` is what every logging path asks before it stores mail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.never_log import InvalidEntry, NeverLog, ascii_domain, internal_only, normalise_entry
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import Forbidden, NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import db_int
from inboxlink.storage.db import new_id
from inboxlink.storage.privacy_tables import never_log, team_privacy

MAX_ENTRIES = 10_000  # per list: a lookup loads the list, so it stays bounded
MAX_RETENTION_DAYS = 36_500
NEVER_LOGGED = (
    "This address is on the team's never-log list (or your own), so it is not kept as a contact. "
    "Remove it from the list under Settings → Privacy first if this person should be in the CRM."
)


@dataclass(frozen=True)
class Rules:
    """What applies to mail of one user of one team."""

    never: NeverLog
    internal_domains: tuple[str, ...]

    def listed(self, address: str) -> bool:
        return self.never.covers(address)

    def internal(self, addresses: list[str]) -> bool:
        return internal_only(addresses, self.internal_domains)


def require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden("admin_required", "Only a team admin can change the team's privacy settings.")


def _view(row: Any) -> dict[str, object]:
    return {
        "id": row.id,
        "value": row.value,
        "scope": "team" if row.user_id is None else "me",
        "created_at": iso(row.created_at),
    }


async def rules_for(conn: AsyncConnection, team_id: int, user_id: int | None) -> Rules:
    mine: ColumnElement[bool] = never_log.c.user_id.is_(None)
    if user_id is not None:
        mine = or_(mine, never_log.c.user_id == user_id)
    values = (
        await conn.execute(select(never_log.c.value).where(never_log.c.team_id == team_id, mine))
    ).scalars()
    settings = (
        await conn.execute(select(team_privacy.c.internal_domains).where(team_privacy.c.team_id == team_id))
    ).first()
    domains = tuple(settings.internal_domains) if settings is not None else ()
    return Rules(NeverLog.of(values), domains)


async def refuse_never_logged(conn: AsyncConnection, caller: Caller, address: str) -> None:
    """422 `never_logged` when a list that applies to the caller covers `address`: a contact made by
    hand must not bring back a person the team chose never to log (or forgot)."""
    if (await rules_for(conn, caller.team_id, caller.user_id)).listed(address):
        raise ServiceError("never_logged", NEVER_LOGGED, field="email")


async def load_rules(rt: Runtime, team_id: int, user_id: int | None) -> Rules:
    async with rt.engine.connect() as conn:
        return await rules_for(conn, team_id, user_id)


async def list_entries(rt: Runtime, caller: Caller) -> list[dict[str, object]]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(never_log)
                .where(
                    never_log.c.team_id == caller.team_id,
                    or_(never_log.c.user_id.is_(None), never_log.c.user_id == caller.user_id),
                )
                .order_by(never_log.c.id)
            )
        ).all()
    return [_view(r) for r in rows]


async def add_to_team_list(conn: AsyncConnection, team_id: int, value: str, created_by: int | None) -> int:
    """The entry's id, adding it unless the team list has it already (forget uses this too)."""
    found = await conn.scalar(
        select(never_log.c.id).where(
            never_log.c.team_id == team_id, never_log.c.user_id.is_(None), never_log.c.value == value
        )
    )
    if found is not None:
        return int(found)
    result = await conn.execute(
        never_log.insert().values(
            team_id=team_id, user_id=None, value=value, created_by=created_by, created_at=now()
        )
    )
    return new_id(result)


async def add_entry(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    scope = body.get("scope", "me")
    if scope not in ("team", "me"):
        raise ServiceError("invalid_field", 'scope must be "team" or "me".', field="scope")
    try:
        value = normalise_entry(body.get("value"))
    except InvalidEntry as exc:
        raise ServiceError("invalid_field", f"value: {exc}", field="value") from exc
    if scope == "team":
        require_admin(caller)
    owner = None if scope == "team" else caller.user_id
    async with rt.engine.begin() as conn:
        same_owner = never_log.c.user_id.is_(None) if owner is None else never_log.c.user_id == owner
        existing = (
            await conn.execute(
                select(never_log).where(
                    never_log.c.team_id == caller.team_id, same_owner, never_log.c.value == value
                )
            )
        ).first()
        if existing is not None:
            return _view(existing)
        count = len(
            (
                await conn.execute(
                    select(never_log.c.id).where(never_log.c.team_id == caller.team_id, same_owner)
                )
            ).all()
        )
        if count >= MAX_ENTRIES:
            raise ServiceError("too_many_entries", f"A never-log list holds at most {MAX_ENTRIES:,} entries.")
        result = await conn.execute(
            never_log.insert().values(
                team_id=caller.team_id,
                user_id=owner,
                value=value,
                created_by=caller.user_id,
                created_at=now(),
            )
        )
        row = (await conn.execute(select(never_log).where(never_log.c.id == new_id(result)))).one()
    return _view(row)


async def delete_entry(rt: Runtime, caller: Caller, entry_id: int) -> None:
    db_int(entry_id, field="id")
    async with rt.engine.begin() as conn:
        row = (
            await conn.execute(
                select(never_log).where(
                    never_log.c.id == entry_id,
                    never_log.c.team_id == caller.team_id,
                    or_(never_log.c.user_id.is_(None), never_log.c.user_id == caller.user_id),
                )
            )
        ).first()
        if row is None:
            raise NotFound("never_log_entry")
        if row.user_id is None:
            require_admin(caller)
        await conn.execute(delete(never_log).where(and_(never_log.c.id == entry_id)))


async def privacy_settings(rt: Runtime, team_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        row = (await conn.execute(select(team_privacy).where(team_privacy.c.team_id == team_id))).first()
    if row is None:
        return {"internal_domains": [], "retention_days": None}
    return {"internal_domains": list(row.internal_domains), "retention_days": row.retention_days}


def _domains(raw: object) -> list[str]:
    if isinstance(raw, str):
        raw = [d for d in raw.replace(",", " ").split() if d]
    if not isinstance(raw, list) or len(raw) > 50:
        raise ServiceError(
            "invalid_field", "internal_domains: a list of at most 50 domains.", field="internal_domains"
        )
    out: list[str] = []
    for item in raw:
        domain = ascii_domain(item) if isinstance(item, str) else None
        if domain is None or "." not in domain:
            raise ServiceError(
                "invalid_field", f"internal_domains: {item!r} is not a domain.", field="internal_domains"
            )
        out.append(domain)
    return list(dict.fromkeys(out))


def _days(raw: object) -> int | None:
    if raw is None or raw == "" or raw == 0:
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= MAX_RETENTION_DAYS:
        raise ServiceError(
            "invalid_field", f"retention_days: a whole number of days from 1 to {MAX_RETENTION_DAYS}, or null (keep).",
            field="retention_days",
        )  # fmt: skip
    return raw


async def update_privacy_settings(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    require_admin(caller)
    current = await privacy_settings(rt, caller.team_id)
    domains = (
        _domains(body["internal_domains"]) if "internal_domains" in body else current["internal_domains"]
    )
    days = _days(body["retention_days"]) if "retention_days" in body else current["retention_days"]
    async with rt.engine.begin() as conn:
        values = {"internal_domains": domains, "retention_days": days, "updated_at": now()}
        updated = await conn.execute(
            team_privacy.update().where(team_privacy.c.team_id == caller.team_id).values(**values)
        )
        if not updated.rowcount:
            await conn.execute(team_privacy.insert().values(team_id=caller.team_id, **values))
    return {"internal_domains": domains, "retention_days": days}
