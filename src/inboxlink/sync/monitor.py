"""One inbox's monitor: connect, follow INBOX (and the Sent folder) from the stored cursors, log the
replies, then wait in IDLE (or poll where the server has no IDLE). Where the server offers NOTIFY
(RFC 5465), the same connection also reports new mail in Sent, so Sent need not wait for the poll.

Per wake-up, for each folder: SELECT (read-only, CONDSTORE when offered) → compare with the cursor
(UIDVALIDITY, last UID) → UID FETCH the new messages' match headers only → look the candidate ids up
in one indexed query → for a match only, fetch BODY.PEEK[] and log it with the cursor advance in the
same transaction (services.mail.replies). A message that matches nothing is never fetched in full and
leaves no trace but the cursor. PEEK everywhere: the user's \\Seen flags are never touched.

Faults: authentication refused → the inbox is marked disconnected (auth_failed) and this monitor
ends until new credentials arrive. Anything else is transient: retry with capped exponential backoff
and jitter (1 s → 5 min); a fault that lasts longer than `disconnect_after` marks the inbox
disconnected (connection_failed) while the retries go on, slowly."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from inboxlink import imap
from inboxlink.domain import providers
from inboxlink.domain.connection_refusals import (
    LIMIT_BACKOFF_START,
    explain_connection_limit,
    is_connection_limit,
)
from inboxlink.services.accounts import credentials, health
from inboxlink.services.platform import leases, metrics
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.tables import inboxes
from inboxlink.sync.folder_scan import FolderScanner, FolderUnstable

log = logging.getLogger(__name__)

BACKOFF_START, BACKOFF_CAP = 1.0, 300.0


class InboxMonitor:
    def __init__(self, rt: Runtime, inbox_id: int) -> None:
        self.rt = rt
        self.inbox_id = inbox_id
        self.stopping = asyncio.Event()
        self.connected = asyncio.Event()  # set while a session is up (tests and status use it)
        self._starting = False  # holds a slot of rt.session_starts
        self.sessions = 0  # sessions opened so far: a reconnect shows as a new one
        self.folder_syncs = 0  # completed folder passes (lets tests wait for "looked again")
        self.waiting = False  # in IDLE or the poll's sleep: what woke it next is news, not a pass
        self.notify = False  # the server reports Sent on this connection (NOTIFY): no waiting for the poll
        self._failing_since: float | None = None
        self.scanner = FolderScanner(rt)
        self.habits = providers.GENERIC  # the provider's habits, known once a session greeted

    def _clock(self) -> float:
        # The event loop's clock, not time.monotonic(): tests run the monitor on a loop whose
        # clock they control, so a 29-minute IDLE cut takes no 29 minutes.
        return asyncio.get_running_loop().time()

    async def run(self) -> None:
        try:
            await self._run()
        except leases.LeaseLost as exc:
            # Another worker owns the inbox now: stop without another word (every write is refused).
            log.warning("%s; this monitor stops", exc)

    async def _run(self) -> None:
        delay = BACKOFF_START
        while not self.stopping.is_set():
            inbox = await self._load()
            if (
                inbox is None
                or inbox.status == "deleted"
                or (
                    inbox.status == "disconnected"
                    and inbox.disconnect_reason in {"auth_failed", "access_revoked", "uidvalidity_unstable"}
                )
            ):
                return
            opened = self.sessions
            try:
                await self._session(inbox)
                return  # stopped on request
            except imap.AuthFailed as exc:
                if not self.stopping.is_set():
                    await health.mark_disconnected(
                        self.rt,
                        inbox.id,
                        "auth_failed",
                        f"IMAP: {exc.server_text or exc}",
                        used_secret=bytes(inbox.secret),
                    )
                return
            except credentials.GrantRevoked:
                return  # the inbox is marked access_revoked; a new grant starts a new monitor
            except FolderUnstable as exc:
                await health.mark_disconnected(self.rt, inbox.id, "uidvalidity_unstable", str(exc))
                return
            except (imap.ImapError, OSError, TimeoutError, credentials.TokenUnavailable) as exc:
                if self.sessions > opened:
                    delay = BACKOFF_START  # the session worked before it broke: start backing off afresh
                delay = await self._fault(inbox, exc, delay)
            except leases.LeaseLost:
                raise
            except Exception as exc:  # a bug must not kill monitoring for good: log it loudly, retry
                log.exception("inbox %s: unexpected error in monitor", self.inbox_id)
                delay = await self._fault(inbox, exc, delay)

    async def _fault(self, inbox: Any, exc: BaseException, delay: float) -> float:
        text = str(exc) or type(exc).__name__
        server_text = getattr(exc, "server_text", None)
        limited = isinstance(exc, imap.ImapError) and is_connection_limit(server_text, exc.code)
        if limited:
            # Over the account's connection cap: other apps hold the connections, and a retry every
            # second would only take one more from them. Start at a minute, then double.
            delay = max(delay, LIMIT_BACKOFF_START)
        elif server_text and server_text not in text:
            text = f"{text}: {server_text}"  # the server's own words ("Server shutting down")
        started = self._failing_since = self._failing_since or self._clock()
        wait = min(delay, BACKOFF_CAP) * random.uniform(0.8, 1.2)
        if limited:
            text = explain_connection_limit(server_text, self.habits.max_connections, wait)
        log.warning("inbox %s: %s; retrying in %.1fs", inbox.id, text, wait)
        try:
            await health.record_error(self.rt, inbox.id, text, now() + timedelta(seconds=wait))
            if self._clock() - started > self.rt.settings.disconnect_after and inbox.status == "connected":
                await health.mark_disconnected(self.rt, inbox.id, "connection_failed", text)
        except (SQLAlchemyError, TimeoutError) as db_exc:
            # The database is the fault (a drained pool, a restart): the status is written on the
            # next fault or pass; the monitor itself must live on and retry.
            log.warning("inbox %s: cannot record the error: %s", inbox.id, db_exc)
        await self._sleep(wait)
        return min(delay * 2, BACKOFF_CAP)

    async def _load(self) -> Any:
        async with self.rt.engine.connect() as conn:
            return (await conn.execute(select(inboxes).where(inboxes.c.id == self.inbox_id))).first()

    async def _session(self, inbox: Any) -> None:
        # Held from connect to the first whole pass (released in _first_pass_done or finally).
        await self.rt.session_starts.acquire()
        self._starting = True
        try:
            await self._open_session(inbox)
        finally:
            self._first_pass_done()

    def _first_pass_done(self) -> None:
        if self._starting:
            self._starting = False
            self.rt.session_starts.release()

    async def _open_session(self, inbox: Any) -> None:
        address = await credentials.checked_address(
            self.rt, inbox, inbox.imap_host, inbox.imap_port, inbox.imap_security, "imap"
        )
        client = await imap.ImapClient.connect(
            inbox.imap_host,
            inbox.imap_port,
            inbox.imap_security,
            ssl_context=self.rt.ssl_context(),
            timeout=60,
            address=address,
        )
        try:
            # Known before login too: a login refused over Gmail's cap is explained with its number.
            self._learn_habits(client, inbox)
            await credentials.imap_login(self.rt, client, inbox)
            self._learn_habits(client, inbox)  # capabilities change after login
            condstore = "CONDSTORE" in client.capabilities
            if condstore and "ENABLE" in client.capabilities:
                await client.enable("CONDSTORE")  # SELECT (CONDSTORE) works without it too
            self.notify = await self._notify(client, inbox)
            last_sync_note = 0.0
            session_started = now()
            while not self.stopping.is_set():
                # Sent first, on every pass: a reply may answer the user's own follow-up, which must
                # be tracked before INBOX is read. INBOX goes last so it stays selected for IDLE, and
                # the flag is cleared *before* its pass: an EXISTS that arrives during the pass means
                # "look again", never "lost until the next poll".
                sent = providers.followed_folders(self.habits, inbox.sent_folder)[:-1]
                for folder in sent:  # [] or [the Sent folder]; never one that holds every message
                    try:
                        await self.scanner.sync_folder(client, inbox, folder, condstore)
                        self.folder_syncs += 1
                    except (imap.CommandFailed, FolderUnstable) as exc:
                        # A renamed, deleted or unstable Sent folder must not stop reply logging.
                        text = f"the Sent folder {folder!r} cannot be followed: {exc}"
                        log.warning("inbox %s: %s", inbox.id, text)
                        await health.record_error(self.rt, inbox.id, text, None)
                client.pending_exists = False
                await self.scanner.sync_folder(client, inbox, "INBOX", condstore)
                self.folder_syncs += 1
                if not self.connected.is_set():
                    # Healthy only once a whole pass worked, not merely a login: a fault that
                    # repeats after login must still grow the backoff and reach disconnect_after.
                    await self._recovered(inbox, session_started)
                    self.sessions += 1
                    self.connected.set()
                    self._first_pass_done()
                if self._clock() - last_sync_note >= self.rt.settings.poll_interval:
                    last_sync_note = self._clock()
                    await health.record_sync(self.rt, inbox.id)
                if client.pending_exists:
                    continue
                # OAuth: wake up to refresh the access token shortly before it expires.
                refresh_in = await credentials.refresh_due_in(self.rt, inbox)
                self.waiting = True
                try:
                    await self._wait_for_news(client, refresh_in)
                finally:
                    self.waiting = False
                await credentials.refresh_if_due(self.rt, inbox)
        finally:
            self.connected.clear()
            await client.logout()
            await client.close()

    def _learn_habits(self, client: imap.ImapClient, inbox: Any) -> None:
        found = providers.server_habits(
            inbox.imap_host,
            inbox.smtp_host,
            inbox.provider,
            greeting=client.greeting,
            capabilities=client.capabilities,
        )
        if found is not providers.GENERIC:  # what one look told is not undone by the next
            self.habits = found

    async def _recovered(self, inbox: Any, session_started: datetime) -> None:
        if self._failing_since is not None or inbox.next_retry_at is not None:
            self._failing_since = None
            await health.record_sync(self.rt, inbox.id)
        if inbox.last_error is not None:
            # "Cannot connect…" from before this session must not outlive the recovery.
            await health.clear_error(self.rt, inbox.id, session_started)
        if inbox.status == "disconnected" and inbox.disconnect_reason in {
            "connection_failed",
            "oauth_client_invalid",
        }:
            await health.mark_reconnected(self.rt, inbox.id)

    async def _notify(self, client: imap.ImapClient, inbox: Any) -> bool:
        """Where the server offers NOTIFY (RFC 5465), have it report new mail in Sent as well as in
        the selected INBOX on this one connection: the user's own follow-up from their mail client
        is then logged within a push, not at the next poll of Sent. False: keep polling Sent."""
        if "NOTIFY" not in client.capabilities or "IDLE" not in client.capabilities:
            return False
        try:
            await client.notify_set(inbox.sent_folder)
        except imap.CommandFailed as exc:  # e.g. a Sent folder NOTIFY refuses: the poll still works
            log.info("inbox %s: NOTIFY refused (%s); polling the Sent folder", inbox.id, exc)
            return False
        return True

    async def _wait_for_news(self, client: imap.ImapClient, refresh_in: float | None = None) -> None:
        # The poll stays with NOTIFY too, as a backstop (a missed push costs one interval, not
        # an IDLE restart); NOTIFY's news of Sent wakes the IDLE long before it.
        # Renewed below the provider's own cut (Exchange ends an IDLE after 30 minutes, Yahoo sooner).
        restart = providers.idle_renewal(self.habits, self.rt.settings.idle_restart)
        timeout = min(restart, self.rt.settings.poll_interval)
        if refresh_in is not None:
            timeout = max(1.0, min(timeout, refresh_in))
        if "IDLE" in client.capabilities:
            idle = asyncio.create_task(client.idle(timeout))
            stop = asyncio.create_task(self.stopping.wait())
            with metrics.IDLE_SESSIONS.track_inprogress():
                done, _ = await asyncio.wait({idle, stop}, return_when=asyncio.FIRST_COMPLETED)
            if idle not in done:
                # Stopping: abandon the IDLE; the session is closed right after, so no DONE is owed.
                idle.cancel()
                await asyncio.gather(idle, return_exceptions=True)
                return
            stop.cancel()
            idle.result()
        else:
            await self._sleep(self.rt.settings.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass
