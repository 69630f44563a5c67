"""Many logged emails at once, written the way the loggers write them (store_email), for the
privacy tests and bench/privacy.py."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from inboxlink.domain.models import Address, Attachment
from inboxlink.services.crm.timeline import NewEmail, store_email
from inboxlink.services.platform.runtime import Runtime


async def seed_emails(
    rt: Runtime,
    team_id: int,
    sender: str,
    count: int,
    *,
    to: str = "seller@crm.test",
    cc: str | None = None,
    attachment_every: int = 10,
    per_transaction: int = 200,
) -> None:
    """`count` inbound emails from `sender`; every `attachment_every`-th with a small attachment."""
    done = 0
    while done < count:
        async with rt.engine.begin() as conn:
            for i in range(done, min(count, done + per_transaction)):
                mid = f"seed-{i}-{secrets.token_hex(6)}@client.example.test"
                files = (
                    [Attachment(f"file-{i}.bin", "application/octet-stream", secrets.token_bytes(2048))]
                    if attachment_every and i % attachment_every == 0
                    else []
                )
                await store_email(
                    rt,
                    conn,
                    NewEmail(
                        team_id=team_id,
                        direction="inbound",
                        status="logged",
                        source="imap",
                        message_id=mid,
                        dedupe_key=mid,
                        sender=Address(sender, "Seeded Sender"),
                        to=[Address(to)],
                        cc=[Address(cc)] if cc else [],
                        subject=f"Seeded message {i}",
                        text=f"Body of seeded message {i}. " * 20,
                        html=f"<p>Body of seeded message {i}</p>",
                        sent_at=datetime.now(UTC),
                        attachments=files,
                        track=False,
                        contact_addresses=[Address(sender), *([Address(cc)] if cc else [])],
                    ),
                )
        done = min(count, done + per_transaction)
