"""Monitor sessions against providers that cannot run here, played as byte scripts on a controlled
clock (scripted_server.py): Exchange's IDLE cut and `Sent Items`, Gmail's Sent Mail / All Mail, and
a server over its connection cap. The monitor, the database (SQLite) and the sockets are real; only
the server is a script, and only the clock skips what would be minutes of waiting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from inboxlink.config import load_settings
from inboxlink.services.accounts.users import create_user
from inboxlink.services.mail import replies
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.db import migrate
from inboxlink.storage.tables import inboxes
from inboxlink.sync.monitor import InboxMonitor
from tests.unit.imap.scripted_server import ScriptedServer, Step, run_on_virtual_clock
from tests.unit.imap.test_client_scripted import cmd

EXCHANGE_CAPS = (
    b"* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN "
    b"IDLE NAMESPACE LITERAL+\r\n{tag} OK CAPABILITY completed.\r\n"
)
EXCHANGE_LOGIN: list[Step] = [
    ("S", b"* OK The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADAAMQAxAEMAQQAwADAAMwA=]\r\n"),
    cmd(b"CAPABILITY"),
    ("S", EXCHANGE_CAPS),
    cmd(rb'LOGIN "u@contoso\.test" "pw"'),
    ("S", b"{tag} OK LOGIN completed.\r\n"),
    cmd(b"CAPABILITY"),
    ("S", EXCHANGE_CAPS),
]
EXCHANGE_CUT = b"* BYE Connection is closed. 13\r\n"  # what Exchange says when its timer runs out


def examine(uidvalidity: int, uidnext: int, exists: int = 0) -> bytes:
    return (
        b"* %d EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)\r\n"
        b"* OK [PERMANENTFLAGS ()] Permanent flags\r\n* OK [UIDVALIDITY %d] UIDVALIDITY value\r\n"
        b"* OK [UIDNEXT %d] The next unique identifier value\r\n{tag} OK [READ-ONLY] EXAMINE completed.\r\n"
    ) % (exists, uidvalidity, uidnext)


def exchange_pass(inbox_next: int = 8) -> list[Step]:
    return [
        cmd(rb'EXAMINE "Sent Items"'),
        ("S", examine(14, 51, 50)),
        cmd(rb'EXAMINE "INBOX"'),
        ("S", examine(14, inbox_next, inbox_next - 1)),
    ]


IDLE_START: list[Step] = [cmd(b"IDLE"), ("S", b"+ IDLE accepted, awaiting DONE command.\r\n")]


def settings_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # Polling far apart, so only the IDLE renewal decides when an IDLE ends.
    return {"INBOXLINK_DATA_DIR": str(tmp_path), "INBOXLINK_POLL_INTERVAL": "7200", **extra}


async def start_inbox(
    rt: Runtime, port: int, sent_folder: str, cursors: dict[str, tuple[int, int]], user: str
) -> int:
    """An inbox connected to the scripted server, its folders already followed up to `cursors`."""
    caller = await create_user(rt, "owner@crm.test", "a long enough password")
    async with rt.engine.begin() as conn:
        result = await conn.execute(
            inboxes.insert().values(
                team_id=caller.team_id, user_id=caller.user_id, email=user, username=user,
                secret=rt.box.encrypt(json.dumps({"password": "pw"}).encode()),
                imap_host="127.0.0.1", imap_port=port, imap_security="none",
                smtp_host="127.0.0.1", smtp_port=1, smtp_security="none",
                status="connected", sent_folder=sent_folder, created_at=now(),
            )
        )  # fmt: skip
        inbox_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    for folder, (uidvalidity, last_uid) in cursors.items():
        await replies.save_cursor(rt, inbox_id, folder, replies.Cursor(uidvalidity, last_uid, None, 0))
    return inbox_id


async def inbox_row(rt: Runtime, inbox_id: int) -> Any:
    async with rt.engine.connect() as conn:
        return (await conn.execute(select(inboxes).where(inboxes.c.id == inbox_id))).one()


def monitored(
    tmp_path: Path,
    server: ScriptedServer,
    sent_folder: str,
    cursors: dict[str, tuple[int, int]],
    until: str,
    check: Callable[[Runtime, InboxMonitor, int], Awaitable[None]],
    user: str = "u@contoso.test",
    **env: str,
) -> None:
    """Run a monitor against `server` until the script reaches the event `until`, then `check`."""
    settings = load_settings(settings_env(tmp_path, **env))
    migrate(settings.database_url)

    async def scenario() -> None:
        rt = Runtime.create(settings)
        try:
            async with server:
                inbox_id = await start_inbox(rt, server.port, sent_folder, cursors, user)
                monitor = InboxMonitor(rt, inbox_id)
                task = asyncio.create_task(monitor.run())
                try:
                    reached = asyncio.create_task(server.event(until).wait())
                    # No timeout on the loop's clock (it jumps): the watchdog is in real time.
                    await asyncio.wait({reached, task}, return_when=asyncio.FIRST_COMPLETED)
                    assert reached.done(), f"the monitor ended before {until!r}: {task}"
                    await check(rt, monitor, inbox_id)
                finally:
                    monitor.stopping.set()
                    await task
        finally:
            await rt.close()

    run_on_virtual_clock(scenario())


# ---- Exchange / Microsoft 365 ------------------------------------------------------------------


def test_exchange_idle_is_renewed_before_the_server_cuts_it(tmp_path: Path) -> None:
    """Exchange ends a connection that has been idle 30 minutes (IDLE included): even with an
    IDLE restart configured at 50 minutes, inboxlink ends each IDLE at 25 and starts the next."""
    session = [
        *EXCHANGE_LOGIN,
        *exchange_pass(),
        *IDLE_START,
        ("IDLE", (rb"DONE\r\n", 29 * 60, EXCHANGE_CUT)),
        ("S", b"{tag} OK IDLE completed.\r\n"),
        *exchange_pass(),
        *IDLE_START,
        ("EVENT", "second IDLE"),
    ]
    server = ScriptedServer([session])

    async def check(rt: Runtime, monitor: InboxMonitor, inbox_id: int) -> None:
        assert monitor.habits.key == "microsoft"  # told by the greeting: the host is the customer's
        assert server.cuts == 0 and len(server.arrivals) == 1  # one connection, never cut
        (waited,) = server.idle_waits
        assert 24 * 60 < waited < 26 * 60

    monitored(tmp_path, server, "Sent Items", {"Sent Items": (14, 50), "INBOX": (14, 7)}, "second IDLE",
              check, INBOXLINK_IDLE_RESTART="3000")  # fmt: skip


def test_exchange_cut_idle_reconnects_at_once_and_reads_what_arrived_meanwhile(tmp_path: Path) -> None:
    """An administrator may lower Exchange's idle timer (AuthenticatedConnectionTimeout, down to
    30 s): the server then cuts the IDLE with BYE. The monitor reconnects within seconds, not
    after a long backoff, and the message that arrived during the cut (UID 8) is read."""
    header = b"Message-ID: <r1@example.test>\r\nSubject: Re: hi\r\n\r\n"
    first = [*EXCHANGE_LOGIN, *exchange_pass(), *IDLE_START, ("IDLE", (rb"DONE\r\n", 10 * 60, EXCHANGE_CUT))]
    second = [
        *EXCHANGE_LOGIN,
        *exchange_pass(inbox_next=9),
        cmd(rb"UID FETCH 8:507 \(UID FLAGS BODY\.PEEK\[HEADER\.FIELDS \(.*\)\]\)"),
        ("S", b"* 8 FETCH (UID 8 FLAGS () BODY[HEADER.FIELDS (MESSAGE-ID SUBJECT)] {%d}\r\n%s)\r\n"
              b"{tag} OK FETCH completed.\r\n" % (len(header), header)),
        cmd(rb"UID FETCH 9:508 .*"),
        ("S", b"{tag} OK FETCH completed.\r\n"),
        cmd(rb"UID FETCH 9:\* .*"),
        ("S", b"{tag} OK FETCH completed.\r\n"),
        *IDLE_START,
        ("EVENT", "IDLE again"),
    ]  # fmt: skip
    server = ScriptedServer([first, second])

    async def check(rt: Runtime, monitor: InboxMonitor, inbox_id: int) -> None:
        assert server.cuts == 1
        assert server.arrivals[1] - server.arrivals[0] < 10 * 60 + 5  # back within seconds of the cut
        cursor = await replies.load_cursor(rt, inbox_id, "INBOX")
        assert cursor is not None and cursor.last_uid == 8  # the message of the cut was looked at
        for _ in range(50):  # the recovery is written right after the pass
            row = await inbox_row(rt, inbox_id)
            if row.last_error is None:
                break
            await asyncio.sleep(0.01)
        assert row.status == "connected" and row.last_error is None

    monitored(tmp_path, server, "Sent Items", {"Sent Items": (14, 50), "INBOX": (14, 7)}, "IDLE again", check)


# ---- Gmail ----------------------------------------------------------------------------------------

GMAIL_CAPS = (
    b"IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS COMPRESS=DEFLATE "
    b"ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS LITERAL- SPECIAL-USE "
    b"APPENDLIMIT=35651584"
)


def gmail_examine(folder: bytes, uidvalidity: int, uidnext: int) -> list[Step]:
    return [
        cmd(rb'EXAMINE "' + folder + rb'" \(CONDSTORE\)'),
        ("S", b"* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing)\r\n"
              b"* OK [PERMANENTFLAGS ()] Flags permitted.\r\n* OK [UIDVALIDITY %d] UIDs valid.\r\n"
              b"* %d EXISTS\r\n* 0 RECENT\r\n* OK [UIDNEXT %d] Predicted next UID.\r\n"
              b"* OK [HIGHESTMODSEQ 4242]\r\n{tag} OK [READ-ONLY] %s selected. (Success)\r\n"
              % (uidvalidity, uidnext - 1, uidnext, folder)),
    ]  # fmt: skip


def test_gmail_all_mail_is_never_followed_even_if_chosen_as_sent(tmp_path: Path) -> None:
    """[Gmail]/All Mail holds every message again, replies included: a monitor follows INBOX and
    Sent only, and refuses All Mail even where it was stored as the Sent folder (any command on it
    would break the script)."""
    session = [
        ("S", b"* OK Gimap ready for requests from 192.0.2.1 a1b2c3\r\n"),
        cmd(b"CAPABILITY"),
        ("S", b"* CAPABILITY " + GMAIL_CAPS + b" AUTH=PLAIN\r\n{tag} OK Thats all she wrote! a1b2c3\r\n"),
        cmd(rb'LOGIN "u@gmail\.test" "pw"'),
        ("S", b"{tag} OK [CAPABILITY " + GMAIL_CAPS + b"] u@gmail.test authenticated (Success)\r\n"),
        cmd(b"ENABLE CONDSTORE"),
        ("S", b"* ENABLED CONDSTORE\r\n{tag} OK Success\r\n"),
        *gmail_examine(b"INBOX", 3, 20),
        cmd(b"IDLE"),
        ("S", b"+ idling\r\n"),
        ("EVENT", "idle"),
    ]
    server = ScriptedServer([session])

    async def check(rt: Runtime, monitor: InboxMonitor, inbox_id: int) -> None:
        assert monitor.habits.key == "gmail"
        assert await replies.load_cursor(rt, inbox_id, "[Gmail]/All Mail") is None

    monitored(tmp_path, server, "[Gmail]/All Mail", {"INBOX": (3, 19)}, "idle", check, user="u@gmail.test")


# ---- a server over its connection cap ------------------------------------------------------------


@pytest.mark.parametrize(
    ("refusal", "words"),
    [
        # Dovecot's mail_max_userip_connections (many hosting providers): BYE right after login.
        ("bye", "Maximum number of connections from user+IP exceeded"),
        # Gmail: the login is refused with NO [ALERT]: not a wrong password.
        ("login", "Too many simultaneous connections. (Failure)"),
    ],
)
def test_a_server_over_its_connection_cap_is_not_hammered(tmp_path: Path, refusal: str, words: str) -> None:
    greeting = b"* OK [CAPABILITY IMAP4rev1 IDLE X-GM-EXT-1 AUTH=PLAIN] ready\r\n"
    if refusal == "bye":
        answer = [cmd(rb'LOGIN "u@contoso\.test" "pw"'), ("S", b"* BYE " + words.encode() + b"\r\n")]
    else:
        answer = [
            cmd(rb'LOGIN "u@contoso\.test" "pw"'),
            ("S", b"{tag} NO [ALERT] " + words.encode() + b"\r\n"),
        ]
    server = ScriptedServer([[("S", greeting), *answer]] * 6)

    async def check(rt: Runtime, monitor: InboxMonitor, inbox_id: int) -> None:
        gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:], strict=False)]
        assert gaps[0] >= 60 * 0.8  # a minute at least: the cap does not clear in a second
        # Doubling (1, 2, 4 minutes, ±20 % jitter) up to the 5-minute cap, where it stays.
        assert gaps[0] < gaps[1] < gaps[2] and all(300 * 0.8 <= gap <= 300 * 1.2 for gap in gaps[3:])
        assert server.most_at_once == 1  # one connection at a time, never a burst
        row = await inbox_row(rt, inbox_id)
        assert row.status == "connected"  # not disconnected as if the password were wrong
        assert row.next_retry_at is not None
        error = row.last_error or ""
        assert "too many are already open for this mailbox" in error and words in error
        assert "Close apps you no longer use" in error and "tries again in" in error
        if refusal == "login":
            assert "allows 15" in error  # Gmail's published cap, from the greeting's X-GM-EXT-1

    monitored(tmp_path, server, "Sent", {}, "connection 6", check)
