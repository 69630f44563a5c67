"""Sending webhook deliveries: the `webhook.deliver` job, one per endpoint (job key), works through
that endpoint's pending deliveries in event order. A failed attempt holds back only its own
endpoint: the job is rescheduled for the delivery's next attempt (growing, jittered delays, the
first within a minute) while other endpoints' jobs run. After `webhook_retry_window` (24 h by
default) of failures the delivery is `failed` with its last error and the next one goes.

Each attempt re-checks the URL's addresses (DNS rebinding) and connects to the address it
checked, with the host name kept for TLS (SNI, certificate) and the Host header; no redirects are
followed and at most RESPONSE_LIMIT bytes of the answer are read."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from inboxlink.domain.webhook_signing import signature_header
from inboxlink.services.accounts.webhooks import Target, check_url
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform import events, jobs
from inboxlink.services.platform.runtime import Runtime, as_utc, now
from inboxlink.storage.platform_tables import webhook_deliveries, webhooks

log = logging.getLogger(__name__)

TIMEOUT = 10.0
RESPONSE_LIMIT = 4096
BATCH = 50  # deliveries per job run before the job yields its slot to others


def _pinned_url(target: Target) -> str:
    host = f"[{target.address}]" if ":" in target.address else target.address
    rest = target.url.split("://", 1)[1]
    path = rest[rest.find("/") :] if "/" in rest else "/"
    return f"{target.scheme}://{host}:{target.port}{path}"


async def post(client: httpx.AsyncClient, target: Target, headers: dict[str, str], body: bytes) -> int:
    """One POST to the checked address; the status code (the body is read only up to a limit)."""
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host:
        host_header = f"[{target.host}]" if target.port == default_port else f"[{target.host}]:{target.port}"
    request = client.build_request(
        "POST",
        _pinned_url(target),
        content=body,
        headers={**headers, "host": host_header, "content-type": "application/json"},
        extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
    )
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        read = 0
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read >= RESPONSE_LIMIT:
                break
    finally:
        await response.aclose()
    return response.status_code


def _secrets(rt: Runtime, hook: Any) -> list[str]:
    keys = [rt.box.decrypt(bytes(hook.secret)).decode()]
    until = as_utc(hook.previous_until)
    if hook.previous_secret is not None and until is not None and until > now():
        keys.append(rt.box.decrypt(bytes(hook.previous_secret)).decode())
    return keys


async def _attempt(
    rt: Runtime, client: httpx.AsyncClient, hook: Any, delivery: Any
) -> tuple[int | None, str | None]:
    """(status code, error); error None means delivered."""
    async with rt.engine.connect() as conn:
        event = (
            await conn.execute(select(events.events).where(events.events.c.id == delivery.event_id))
        ).one()
    body = json.dumps(events.event_body(rt, event), separators=(",", ":")).encode()
    msg_id = events.event_id(event.id)
    stamp = int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature_header(_secrets(rt, hook), msg_id, stamp, body),
        "user-agent": "inboxlink-webhooks",
    }
    try:
        target = await check_url(rt, hook.url)
        code = await post(client, target, headers, body)
    except ServiceError as exc:
        return None, exc.message
    except httpx.TimeoutException:
        return None, f"no answer within {TIMEOUT:.0f} s"
    except (httpx.HTTPError, OSError) as exc:
        return None, f"could not connect: {exc}" if str(exc) else f"could not connect: {type(exc).__name__}"
    if 200 <= code < 300:
        return code, None
    return code, f"the receiver answered HTTP {code}"


async def _record(rt: Runtime, delivery: Any, code: int | None, error: str | None) -> float | None:
    """Store the attempt's outcome; seconds until this delivery's next attempt, or None when it is
    settled (delivered or failed)."""
    stamp = now()
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_status_code": code, "last_attempt_at": stamp}
    delay: float | None = None
    if error is None:
        values.update(status="delivered", delivered_at=stamp, last_error=None)
    else:
        values["last_error"] = error[:1000]
        started = as_utc(delivery.created_at) or stamp
        if (stamp - started).total_seconds() >= rt.settings.webhook_retry_window:
            values["status"] = "failed"
        else:
            delay = jobs.backoff(attempts, rt.settings.webhook_retry_base)
            values["next_attempt_at"] = stamp + timedelta(seconds=delay)
    async with rt.engine.begin() as conn:
        await conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.id == delivery.id, webhook_deliveries.c.status == "pending")
            .values(**values)
        )
    return delay


async def _next(rt: Runtime, webhook_id: int) -> tuple[Any, Any]:
    """The endpoint (None once deleted) and its next pending delivery in feed order (None if
    none): an event without a position is not numbered yet, and whatever is numbered later comes
    after everything numbered now (events.sequence)."""
    async with rt.engine.connect() as conn:
        hook = (await conn.execute(select(webhooks).where(webhooks.c.id == webhook_id))).first()
        if hook is None:
            return None, None
        delivery = (
            await conn.execute(
                select(webhook_deliveries)
                .where(
                    webhook_deliveries.c.webhook_id == webhook_id,
                    webhook_deliveries.c.status == "pending",
                    webhook_deliveries.c.position.is_not(None),
                )
                .order_by(webhook_deliveries.c.position)
                .limit(1)
            )
        ).first()
    return hook, delivery


@jobs.register(events.DELIVER)
async def deliver(rt: Runtime, payload: dict[str, Any]) -> None:
    webhook_id = int(payload["webhook_id"])
    # The installation's trust store (SSL_CERT_FILE honoured, as for the mail servers); no proxies
    # from the environment: the connection must go to the address that was checked.
    client = httpx.AsyncClient(
        timeout=TIMEOUT, follow_redirects=False, trust_env=False, verify=rt.ssl_context()
    )
    async with client:
        await events.sequence_now(rt)  # what is committed gets its feed position first
        for _ in range(BATCH):
            hook, delivery = await _next(rt, webhook_id)
            if hook is not None and delivery is None:
                # Before giving up, number what committed while this batch ran.
                await events.sequence_now(rt)
                hook, delivery = await _next(rt, webhook_id)
            if hook is None or delivery is None:
                return  # deleted, or nothing left
            due = as_utc(delivery.next_attempt_at) or now()
            wait = (due - now()).total_seconds()
            if wait > 0:
                raise jobs.Retry(wait, "waiting for the next attempt")
            code, error = await _attempt(rt, client, hook, delivery)
            delay = await _record(rt, delivery, code, error)
            if delay is not None:
                log.info(
                    "webhook %s delivery %s: %s; next attempt in %.0f s",
                    webhook_id,
                    delivery.id,
                    error,
                    delay,
                )
                raise jobs.Retry(delay, error or "")
    raise jobs.Retry(0, "more to deliver")
