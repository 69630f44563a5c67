"""Webhook endpoints of a team (docs/webhooks.md): admin-managed, the secret shown once and stored
sealed, rotated with a 24 h overlap. Target URLs are checked here at creation and again by the
sender before every attempt (DNS rebinding), with the address rule of domain/network.py."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.network import REASONS, blocked_reason
from inboxlink.domain.webhook_signing import new_secret
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform import events, jobs
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.storage.db import new_id
from inboxlink.storage.platform_tables import webhook_deliveries, webhooks

ROTATION_OVERLAP = timedelta(hours=24)
MAX_WEBHOOKS = 20


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    address: str  # the checked address the connection goes to


class Forbidden(ServiceError):
    status = 403


def _admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden("forbidden", "Only team administrators can manage webhooks.")


async def _resolve(rt: Runtime, host: str, port: int) -> list[str]:
    """Every address `host` stands for: the system's resolver, or INBOXLINK_DNS_SERVERS when set
    (the same servers the sender checks ask). Raises OSError when there is none."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    if not rt.settings.dns_servers:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in rt.settings.dns_servers]
    resolver.lifetime = 5.0
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(host, rdtype)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        except dns.exception.DNSException as exc:
            raise OSError(f"DNS lookup failed: {exc}") from exc
        found += [r.to_text() for r in answer]
    if not found:
        raise OSError(f"{host} has no address")
    return found


async def check_url(rt: Runtime, url: Any) -> Target:
    """https only, to public addresses only (every address the name resolves to); with
    INBOXLINK_WEBHOOK_ALLOW_PRIVATE also http and loopback/private addresses."""
    allow = rt.settings.webhook_allow_private
    if not isinstance(url, str) or len(url) > 2000:
        raise ServiceError("invalid_field", "url must be an https URL.", field="url")
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ServiceError("invalid_field", f"url is not a valid URL: {exc}.", field="url") from exc
    if parts.scheme not in ({"https", "http"} if allow else {"https"}) or not parts.hostname:
        raise ServiceError("invalid_url", "url must be an https:// URL with a host name.", field="url")
    if parts.username or parts.password:
        raise ServiceError("invalid_url", "url must not carry a user name or password.", field="url")
    try:
        addresses = await _resolve(rt, parts.hostname, port)
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise ServiceError(
            "invalid_url", f"The host {parts.hostname} could not be found.", field="url"
        ) from exc
    if not addresses:
        raise ServiceError("invalid_url", f"The host {parts.hostname} has no address.", field="url")
    if not allow:
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                raise ServiceError(
                    "private_address_refused",
                    f"{parts.hostname} points to {REASONS[reason]}; webhooks go to public Internet addresses "
                    "only (an administrator can allow private ones with INBOXLINK_WEBHOOK_ALLOW_PRIVATE).",
                    field="url",
                )
    return Target(url.strip(), parts.scheme, parts.hostname, port, addresses[0])


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ServiceError("invalid_field", "events must be a non-empty list of event types.", field="events")
    unknown = [v for v in value if v not in events.EVENT_TYPES]
    if unknown:
        raise ServiceError(
            "invalid_field",
            f"Unknown event type {unknown[0]!r}; known: {', '.join(events.EVENT_TYPES)}.",
            field="events",
        )
    return list(dict.fromkeys(value))


def webhook_view(row: Any) -> dict[str, object]:
    return {"id": row.id, "url": row.url, "events": list(row.events), "created_at": iso(row.created_at)}


async def create_webhook(rt: Runtime, caller: Caller, url: Any, kinds: Any) -> dict[str, object]:
    _admin(caller)
    chosen = _events(kinds)
    target = await check_url(rt, url)
    secret = new_secret()
    async with rt.engine.begin() as conn:
        count = len(
            (await conn.execute(select(webhooks.c.id).where(webhooks.c.team_id == caller.team_id))).all()
        )
        if count >= MAX_WEBHOOKS:
            raise ServiceError("too_many_webhooks", f"A team can have at most {MAX_WEBHOOKS} webhooks.")
        result = await conn.execute(
            webhooks.insert().values(
                team_id=caller.team_id,
                url=target.url,
                events=chosen,
                secret=rt.box.encrypt(secret.encode()),
                created_at=now(),
            )
        )
        row = await _get(conn, caller, new_id(result))
    return {**webhook_view(row), "secret": secret}


async def _get(conn: AsyncConnection, caller: Caller, webhook_id: int) -> Any:
    row = (
        await conn.execute(
            select(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.team_id == caller.team_id)
        )
    ).first()
    if row is None:
        raise NotFound("webhook")
    return row


async def list_webhooks(rt: Runtime, caller: Caller) -> list[dict[str, object]]:
    _admin(caller)
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(webhooks).where(webhooks.c.team_id == caller.team_id).order_by(webhooks.c.id)
            )
        ).all()
    return [webhook_view(r) for r in rows]


async def get_webhook(rt: Runtime, caller: Caller, webhook_id: int) -> dict[str, object]:
    _admin(caller)
    async with rt.engine.connect() as conn:
        return webhook_view(await _get(conn, caller, webhook_id))


async def delete_webhook(rt: Runtime, caller: Caller, webhook_id: int) -> None:
    _admin(caller)
    async with rt.engine.begin() as conn:
        await _get(conn, caller, webhook_id)
        await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id))
        await conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))


async def rotate_secret(rt: Runtime, caller: Caller, webhook_id: int) -> dict[str, object]:
    """A new secret; the old one keeps signing (both signatures sent) for 24 h."""
    _admin(caller)
    secret = new_secret()
    async with rt.engine.begin() as conn:
        row = await _get(conn, caller, webhook_id)
        await conn.execute(
            webhooks.update()
            .where(webhooks.c.id == webhook_id)
            .values(
                secret=rt.box.encrypt(secret.encode()),
                previous_secret=row.secret,
                previous_until=now() + ROTATION_OVERLAP,
            )
        )
        row = await _get(conn, caller, webhook_id)
    return {**webhook_view(row), "secret": secret}


def delivery_view(row: Any) -> dict[str, object]:
    return {
        "id": row.id,
        "event_id": events.event_id(row.event_id),
        "type": row.type,
        "status": row.status,
        "attempts": row.attempts,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "last_attempt_at": iso(row.last_attempt_at),
        "next_attempt_at": iso(row.next_attempt_at) if row.status == "pending" else None,
        "delivered_at": iso(row.delivered_at),
        "created_at": iso(row.created_at),
    }


async def list_deliveries(
    rt: Runtime, caller: Caller, webhook_id: int, limit: int = 50
) -> list[dict[str, object]]:
    _admin(caller)
    async with rt.engine.connect() as conn:
        await _get(conn, caller, webhook_id)
        rows = (
            await conn.execute(
                select(webhook_deliveries, events.events.c.type)
                .join(events.events, events.events.c.id == webhook_deliveries.c.event_id)
                .where(webhook_deliveries.c.webhook_id == webhook_id)
                .order_by(webhook_deliveries.c.id.desc())
                .limit(limit)
            )
        ).all()
    return [delivery_view(r) for r in rows]


async def retry_delivery(rt: Runtime, caller: Caller, webhook_id: int, delivery_id: int) -> dict[str, object]:
    """Send again now (a failed delivery gets a fresh retry window); same webhook-id."""
    _admin(caller)
    async with rt.engine.begin() as conn:
        await _get(conn, caller, webhook_id)
        found = await conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.webhook_id == webhook_id)
            .values(status="pending", next_attempt_at=now(), attempts=0, created_at=now())
        )
        if found.rowcount != 1:
            raise NotFound("delivery")
        await jobs.enqueue(
            conn, events.DELIVER, {"webhook_id": webhook_id}, key=events.webhook_job_key(webhook_id)
        )
    rt.jobs_wakeup.set()
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                select(webhook_deliveries, events.events.c.type)
                .join(events.events, events.events.c.id == webhook_deliveries.c.event_id)
                .where(webhook_deliveries.c.id == delivery_id)
            )
        ).one()
    return delivery_view(row)


async def send_test_event(rt: Runtime, caller: Caller, webhook_id: int) -> None:
    """A `webhook.test` delivery to this endpoint only (the admin page's button)."""
    _admin(caller)
    async with rt.engine.begin() as conn:
        await _get(conn, caller, webhook_id)
        await events.record_test(rt, conn, caller.team_id, webhook_id)
    rt.jobs_wakeup.set()
