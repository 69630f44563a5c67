"""One folder's pass for a monitor: SELECT (read-only) → compare with the stored cursor → UID FETCH
the new messages' match headers → one indexed lookup → for a match only, BODY.PEEK[] and log it with
the cursor advance (services.mail.replies). Also the checks that keep an outsider's copied
Message-ID from getting private mail logged (collisions). State kept here lives as long as the
monitor: UIDVALIDITY changes seen and per-message failures."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

from inboxlink import imap
from inboxlink.domain.matching import candidate_ids, find_match
from inboxlink.mime.build import OWN_ID_HEADER
from inboxlink.mime.headers import own_id, scan_headers
from inboxlink.services.accounts import health
from inboxlink.services.mail import bounces, never_log_gate, replies
from inboxlink.services.platform import metrics
from inboxlink.services.platform.own_ids import own_id_is_ours
from inboxlink.services.platform.runtime import Runtime

log = logging.getLogger(__name__)

MATCH_FIELDS = (
    "MESSAGE-ID",
    "IN-REPLY-TO",
    "REFERENCES",
    "FROM",
    "TO",
    "CC",
    "SUBJECT",
    "DATE",
    "CONTENT-TYPE",  # a delivery report (multipart/report) is read for bounces: services.mail.bounces
    OWN_ID_HEADER.upper(),
)
CHUNK = 500  # UIDs per FETCH: keeps each command far below Dovecot's 64 KB line limit
MAX_UIDVALIDITY_CHANGES = 5  # within one process lifetime of a folder: more means a broken server
MAX_COPIES = 20  # other messages under a reply's Message-ID worth a look; more is no innocent copy
NOT_LEARNED = "this reply's Message-ID is not tracked"
POISON_RETRIES = 3  # sessions in which one message failed before it is stepped over


class FolderUnstable(Exception):
    pass


class FolderScanner:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._uidvalidity_changes: dict[str, int] = {}
        self._failures: dict[tuple[str, int], int] = {}

    async def _poison(self, inbox: Any, folder: str, uid: int, exc: Exception) -> bool:
        """True when (folder, uid) has now failed POISON_RETRIES times (the server will not FETCH
        it, or the database will not store it) and is to be stepped over."""
        key = (folder, uid)
        self._failures[key] = self._failures.get(key, 0) + 1
        if self._failures[key] < POISON_RETRIES:
            return False
        text = f"{folder} UID {uid}: a matching message could not be logged and was skipped ({exc.__class__.__name__})"
        log.error("inbox %s: %s: %s", inbox.id, text, exc)
        await health.record_error(self.rt, inbox.id, text, None)
        return True

    async def sync_folder(self, client: imap.ImapClient, inbox: Any, folder: str, condstore: bool) -> None:
        info = await client.select(folder, readonly=True, condstore=condstore)
        cursor = await replies.load_cursor(self.rt, inbox.id, folder)
        if cursor is None or cursor.uidvalidity != info.uidvalidity:
            # Before starting a cursor or believing a renumbering: a second look, and one read-write
            # open where the server has no UID database yet (Courier; imap.position).
            info = await imap.stable_select(client, folder, condstore=condstore)
        if cursor is None:
            # Monitoring starts at connection time: what was already there is not ours to read.
            start = (info.uidnext - 1) if info.uidnext else 0
            await replies.save_cursor(
                self.rt, inbox.id, folder, replies.Cursor(info.uidvalidity, start, info.highestmodseq, 0)
            )
            return
        if cursor.uidvalidity != info.uidvalidity:
            changes = cursor.uidvalidity_changes + 1
            self._uidvalidity_changes[folder] = self._uidvalidity_changes.get(folder, 0) + 1
            if self._uidvalidity_changes[folder] > MAX_UIDVALIDITY_CHANGES:
                raise FolderUnstable(
                    f"{folder}: UIDVALIDITY changed {changes} times; the server keeps renumbering it"
                )
            log.info(
                "inbox %s %s: UIDVALIDITY %s → %s, rescanning",
                inbox.id,
                folder,
                cursor.uidvalidity,
                info.uidvalidity,
            )
            # Rescan from the start; the dedupe key keeps what was logged before from doubling.
            cursor = replies.Cursor(info.uidvalidity, 0, None, changes)
            await replies.save_cursor(self.rt, inbox.id, folder, cursor)
        if info.uidnext is not None and info.uidnext - 1 < cursor.last_uid:
            # UIDs went backwards under the same UIDVALIDITY (a broken or restored server): the
            # cursor means nothing any more. Rescan; the dedupe key keeps it from doubling.
            log.warning(
                "inbox %s %s: UIDNEXT %s is below the cursor %s, rescanning",
                inbox.id,
                folder,
                info.uidnext,
                cursor.last_uid,
            )
            cursor = replies.Cursor(cursor.uidvalidity, 0, None, cursor.uidvalidity_changes)
            await replies.save_cursor(self.rt, inbox.id, folder, cursor)
        if info.uidnext is not None and info.uidnext - 1 <= cursor.last_uid:
            if info.highestmodseq != cursor.highestmodseq:
                cursor = replies.Cursor(
                    cursor.uidvalidity, cursor.last_uid, info.highestmodseq, cursor.uidvalidity_changes
                )
                await replies.save_cursor(self.rt, inbox.id, folder, cursor)
            return
        await self._scan_new(client, inbox, folder, cursor, info.highestmodseq)

    async def _read_bounce(self, client: imap.ImapClient, inbox: Any, uid: int) -> None:
        """A message that answers nothing but looks like a delivery report: read it for a bounce of
        one of our emails (nothing of it is stored). A server that refuses it loses only the bounce."""
        try:
            full = await client.fetch_full(uid)
        except imap.CommandFailed as exc:
            log.warning("inbox %s uid %s: a possible bounce could not be fetched: %s", inbox.id, uid, exc)
            return
        if full is not None and full.body is not None:
            await bounces.record_bounce(self.rt, inbox, full.body)

    def _own_copies(self, fetched: Sequence[imap.FetchedMessage]) -> dict[int, str]:
        """uid → our id, for copies whose X-Inboxlink-Id carries a valid MAC: never logged. Only a
        Sent-folder copy teaches anything (`track_alias`); elsewhere the header is anyone's to copy
        (it is in every email we send), which can only keep the copier's own message out."""
        found = {}
        for m in fetched:
            header = own_id(m.header or b"")
            if header is not None and own_id_is_ours(self.rt, header.message_id, header.mac):
                found[m.uid] = header.message_id
        return found

    async def _id_names_another(
        self, client: imap.ImapClient, inbox: Any, uid: int, message_id: str, answering: set[int]
    ) -> str | None:
        """Why a reply's Message-ID must not be learned (None: it may): another message in this
        folder has it — an outsider who copied the id of private mail here would otherwise get the
        answers to that mail logged. One UID SEARCH per logged reply; copies of the reply itself
        (they answer our mail too, like a message delivered twice) do not count."""
        try:
            holders = set(await client.uid_search_header("Message-ID", f"<{message_id}>"))
        except imap.CommandFailed as exc:
            log.warning(
                "inbox %s uid %s: the reply's Message-ID could not be checked: %s", inbox.id, uid, exc
            )
            return f"{NOT_LEARNED}: the server could not search for it, so answers to it are not logged"
        others = sorted(holders - answering - {uid})
        if not others or (
            len(others) <= MAX_COPIES and await self._all_copies(client, inbox, others, message_id)
        ):
            return None
        log.warning(
            "inbox %s uid %s: not tracking the reply's Message-ID: %d other message(s) in the folder have it",
            inbox.id, uid, len(others),
        )  # fmt: skip
        return f"{NOT_LEARNED}: another message in this mailbox has the same Message-ID, so answers to it are not logged"

    async def _all_copies(
        self, client: imap.ImapClient, inbox: Any, uids: list[int], message_id: str
    ) -> bool:
        """Whether the messages under `uids` that carry `message_id` all answer mail we track, as
        copies of the reply do (delivered again, beyond this chunk); private mail answers none."""
        fetched = await client.fetch_headers(",".join(map(str, uids)), MATCH_FIELDS)
        summaries = [scan_headers(m.header or b"") for m in fetched if m.uid in uids]
        mine = [s for s in summaries if s.message_id == message_id]  # HEADER search is a substring match
        known = await replies.tracked_lookup(self.rt, inbox, [i for s in mine for i in candidate_ids(s)])
        return all(find_match(s, lambda ids: {i: known[i] for i in ids if i in known}) for s in mine)

    async def _forget_collisions(
        self,
        inbox: Any,
        folder: str,
        summaries: dict[int, Any],
        answering: set[int],
        learned: set[str],
        known: dict[str, int],
    ) -> None:
        """A new message that answers nothing of ours, under an id this inbox learned from a reply:
        the reply took the id of this message before it arrived (or it is the reply's id reused).
        Answers to it may be private, so the id stops counting here, before anything is matched."""
        for uid, summary in summaries.items():
            message_id = summary.message_id
            if message_id in learned and uid not in answering:
                await replies.untrack_learned(self.rt, inbox, message_id)
                learned.discard(message_id)
                known.pop(message_id, None)
                log.warning(
                    "inbox %s %s UID %s: a second message has the Message-ID of a logged reply; "
                    "answers to that id are no longer logged",
                    inbox.id, folder, uid,
                )  # fmt: skip

    async def _scan_new(
        self, client: imap.ImapClient, inbox: Any, folder: str, cursor: replies.Cursor, modseq: int | None
    ) -> None:
        outbound = folder != "INBOX"
        low = cursor.last_uid + 1
        while True:
            found_at = time.monotonic()  # the reply-logging latency starts at the header FETCH
            # "low:*" also returns the highest message when it is below `low`: filter on uid.
            fetched = [
                m
                for m in await client.fetch_headers(f"{low}:{low + CHUNK - 1}", MATCH_FIELDS)
                if m.uid >= low
            ]
            if not fetched:
                fetched = [m for m in await client.fetch_headers(f"{low}:*", MATCH_FIELDS) if m.uid >= low]
                if not fetched:
                    break
            fetched.sort(key=lambda m: m.uid)
            summaries = {m.uid: scan_headers(m.header or b"") for m in fetched}
            ours = self._own_copies(fetched)
            wanted = [i for s in summaries.values() for i in candidate_ids(s)] + list(ours.values())
            # The messages' own ids ride along in the same query: one that this inbox learned from
            # a reply, arriving again on a message that answers nothing of ours, is a collision.
            wanted += [s.message_id for s in summaries.values() if s.message_id]
            known, learned = await replies.tracked_lookup_scoped(self.rt, inbox, wanted)

            def lookup(ids: Sequence[str], known: dict[str, int] = known) -> dict[str, int]:
                return {i: known[i] for i in ids if i in known}

            answering = {uid for uid, s in summaries.items() if find_match(s, lookup) is not None}
            await self._forget_collisions(inbox, folder, summaries, answering, learned, known)

            for message in fetched:
                own = known.get(ours.get(message.uid, ""))
                if own is not None:
                    # A copy of an email we sent (MAC checked), maybe under a Message-ID a relay gave
                    # it: never logged again. In Sent it is the provider's copy, whose new id is
                    # remembered; elsewhere (a Cc to oneself) nothing is learned from it — anyone may
                    # copy the header into their own mail, and so only keep their own mail out.
                    if outbound:
                        await replies.track_alias(self.rt, inbox, own, summaries[message.uid].message_id)
                    continue
                match = find_match(summaries[message.uid], lookup)
                if match is None:
                    if not outbound and bounces.is_candidate(message.header or b""):
                        await self._read_bounce(client, inbox, message.uid)
                    continue
                if await never_log_gate.not_logged(self.rt, inbox, message.header or b"", outbound=outbound):
                    continue  # never-log list / internal mail: decided on the headers, never fetched
                try:
                    full = await client.fetch_full(message.uid)
                except imap.CommandFailed as exc:
                    # The server refuses this one message (Gmail: "Some messages could not be
                    # FETCHed"): retry it in later sessions, then step over it visibly.
                    if not await self._poison(inbox, folder, message.uid, exc):
                        raise
                    continue
                if full is None or full.body is None:
                    continue  # expunged between the two fetches: nothing to log
                reply_id = summaries[message.uid].message_id
                # Inbound only: the sender chose this id, and it may be that of private mail here.
                refused = (
                    await self._id_names_another(client, inbox, message.uid, reply_id, answering)
                    if reply_id and not outbound
                    else None
                )
                try:
                    logged = await replies.log_matched_message(
                        self.rt, inbox, folder, cursor, message.uid, full.body, match,
                        outbound=outbound, not_learned=refused,
                    )  # fmt: skip
                except (DataError, ProgrammingError, IntegrityError) as exc:
                    # The database refuses this one message (not a connection problem). Retry it a
                    # few times, then step over it visibly rather than block the inbox for good.
                    if not await self._poison(inbox, folder, message.uid, exc):
                        raise
                    logged = None
                if logged is not None:
                    metrics.REPLY_LOG_SECONDS.observe(time.monotonic() - found_at)
                if logged is not None and reply_id and refused is None:
                    # A reply to this reply may sit later in the same chunk: it is tracked from now on.
                    known[reply_id] = logged
                cursor = replies.Cursor(
                    cursor.uidvalidity, message.uid, cursor.highestmodseq, cursor.uidvalidity_changes
                )
            top = fetched[-1].uid
            cursor = replies.Cursor(cursor.uidvalidity, top, cursor.highestmodseq, cursor.uidvalidity_changes)
            await replies.save_cursor(self.rt, inbox.id, folder, cursor)
            low = top + 1
        if modseq is not None and modseq != cursor.highestmodseq:
            await replies.save_cursor(
                self.rt,
                inbox.id,
                folder,
                replies.Cursor(cursor.uidvalidity, cursor.last_uid, modseq, cursor.uidvalidity_changes),
            )
