"""Proving that a login owns the address an inbox is connected under.

Mail sent through an inbox is recorded as sent *by its address*, and the BCC listener trusts that
address as the user's; so an inbox whose address is not the login itself (an alias, a shared
address) must show that mail to the address really reaches this login. We send one small message
from the address to itself through the mailbox's own SMTP server, with a one-time header, wait for
it in the login's INBOX, then delete it (UID EXPUNGE where UIDPLUS is offered). Only then is the
inbox saved; otherwise 422 `address_not_verified`.

The test message is not a tracked email: it is never written to the database or the log, the
outbox never sees it, and INBOX is opened read-write only to delete it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid

from sqlalchemy import func, select

from inboxlink import imap
from inboxlink.services.accounts.endpoints import Endpoint
from inboxlink.services.accounts.probes import imap_login, open_imap
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime
from inboxlink.smtp import SmtpError, SmtpServer, deliver
from inboxlink.storage.tables import inboxes, users

log = logging.getLogger("inboxlink.accounts")

PROOF_HEADER = "X-Inboxlink-Verify"
POLL_SECONDS = 0.5


async def check_address_free(rt: Runtime, user_id: int, team_id: int, address: str) -> None:
    """An address that is another user's login, or a teammate's connected inbox, is theirs: the
    proof below cannot settle that when the servers are the user's own choice (a server they run
    answers whatever they like), and the BCC listener and the records would then take the user's
    mail for the other person's."""
    address = address.strip().lower()
    async with rt.engine.connect() as conn:
        login = await conn.scalar(
            select(users.c.id).where(func.lower(users.c.email) == address, users.c.id != user_id)
        )
        inbox = await conn.scalar(
            select(inboxes.c.id).where(
                func.lower(inboxes.c.email) == address,
                inboxes.c.team_id == team_id,
                inboxes.c.user_id != user_id,
                inboxes.c.deleted_at.is_(None),
            )
        )
    if login is not None or inbox is not None:
        raise ServiceError(
            "address_in_use",
            f"{address} belongs to another inboxlink user; only they can connect it.",
            field="email",
        )


def proof_needed(address: str, username: str) -> bool:
    return address.strip().lower() != username.strip().lower()


def proof_message(address: str, username: str, token: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = address
    msg["To"] = address
    msg["Subject"] = "inboxlink address check"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid("inboxlink-check", domain=address.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office answers to this
    msg[PROOF_HEADER] = token
    msg.set_content(
        f"This message checks that the mailbox login {username} receives mail sent to {address}, "
        "before inboxlink sends mail from that address. It is deleted as soon as it arrives.\n\n"
        "If you find it in your mailbox and did not connect this address in inboxlink, someone "
        "tried to use your address; you can delete this message.\n"
    )
    return msg.as_bytes(policy=SMTP)


def _not_verified(address: str, username: str, why: str) -> ServiceError:
    return ServiceError(
        "address_not_verified",
        f"{address} is not the login {username}, so inboxlink checked that mail to it reaches this "
        f"mailbox: {why} Connect the inbox under the address this login receives mail for.",
        field="email",
    )


async def prove_address(
    rt: Runtime, imap_at: Endpoint, smtp: SmtpServer, username: str, password: str, address: str
) -> None:
    token = secrets.token_urlsafe(24)
    client = await open_imap(rt, imap_at)
    try:
        await imap_login(client, imap_at, username, password)
        before = await client.select("INBOX", readonly=True)
        try:
            await deliver(smtp, rt.ssl_context(), address, [address], proof_message(address, username, token))
        except SmtpError as exc:
            raise _not_verified(
                address, username, f"the SMTP server did not send a test message from it ({exc})."
            ) from exc
        uid = await _arrival(client, token, before.uidnext or 1, rt.settings.address_check_timeout)
        if uid is None:
            raise _not_verified(
                address,
                username,
                f"a test message sent to it did not arrive in this login's INBOX within "
                f"{rt.settings.address_check_timeout:g} seconds.",
            )
        await _delete(client, uid)
    except imap.ImapError as exc:
        raise ServiceError(
            "connection_failed", f"The IMAP server broke the connection: {exc}", field="imap.host"
        ) from exc
    finally:
        await client.logout()


async def _arrival(client: imap.ImapClient, token: str, first_uid: int, timeout: float) -> int | None:
    """The UID of the test message once it is in INBOX, or None after `timeout` seconds. NOOP,
    then a header search, every half second: servers report new mail on the next command."""
    criteria = f'UID {first_uid}:* HEADER {PROOF_HEADER} "{token}"'
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await client.noop()
        found = await client.uid_search(criteria)
        if found:
            return found[-1]
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(min(POLL_SECONDS, max(deadline - loop.time(), 0)))


async def _delete(client: imap.ImapClient, uid: int) -> None:
    """Delete the test message and nothing else. Without UIDPLUS a plain EXPUNGE would also remove
    every message the user flagged \\Deleted but kept, so then it runs only when ours is the sole one
    (else ours stays flagged, gone at the user's next expunge)."""
    try:
        await client.select("INBOX")
        await client.uid_store(str(uid), ["\\Deleted"])
        if "UIDPLUS" in client.capabilities:
            await client.expunge(str(uid))
        elif await client.uid_search("DELETED") == [uid]:
            await client.expunge()
    except imap.CommandFailed as exc:
        # The address is proved either way; a server that will not delete leaves a harmless note.
        log.warning("the address check message could not be deleted: %s", exc)
