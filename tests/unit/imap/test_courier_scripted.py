"""Courier-IMAP's quirks as byte scripts (the same servers run for real in
tests/integration/test_interop_peers.py): APPEND refused into the folder selected read-only, a
UIDVALIDITY that holds only after a read-write open, no UIDNEXT in SELECT. The script format is
that of test_client_scripted.py: ("S", bytes) the server sends, ("C", regex) the client must send."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from inboxlink.config import load_settings
from inboxlink.imap import ImapClient, stable_select
from inboxlink.services.mail.delivery import copy_to_sent
from inboxlink.services.platform.runtime import Runtime
from inboxlink.web.format import email_status
from tests.unit.imap.test_client_scripted import Script, cmd, connect, scripted

COURIER_GREETING = (
    "S",
    b"* OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES "
    b"SORT QUOTA IDLE ACL ACL2=UNION STARTTLS ENABLE UTF8=ACCEPT] Courier-IMAP ready.\r\n",
)
COURIER_LOGIN: Script = [
    COURIER_GREETING,
    cmd(rb'LOGIN "u@example\.test" "pw"'),
    ("S", b"{tag} OK LOGIN Ok.\r\n"),  # no CAPABILITY code: the client asks
    cmd(rb"CAPABILITY"),
    (
        "S",
        b"* CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE SORT QUOTA IDLE ACL\r\n{tag} OK CAPABILITY completed\r\n",
    ),
]


def examine(uidvalidity: int, exists: int = 0, *, readonly: bool = True) -> bytes:
    """Courier's answer to EXAMINE/SELECT: no UIDNEXT, ever."""
    mode = b"READ-ONLY" if readonly else b"READ-WRITE"
    return (
        b"* FLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent)\r\n"
        b"* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n"
        b"* %d EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY %d] Ok\r\n"
        b'* OK [MYRIGHTS "acdilrsw"] ACL\r\n{tag} OK [%s] Ok\r\n'
    ) % (exists, uidvalidity, mode)


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.create(load_settings({"INBOXLINK_DATA_DIR": str(tmp_path)}))


def inbox(rt: Runtime, port: int) -> SimpleNamespace:
    return SimpleNamespace(
        id=1,
        sent_folder="INBOX.Sent",
        provider=None,
        auth="password",
        username="u@example.test",
        secret=rt.box.encrypt(json.dumps({"password": "pw"}).encode()),
        imap_host="127.0.0.1",
        imap_port=port,
        imap_security="none",
        smtp_host="127.0.0.1",
    )


async def test_sent_copy_leaves_the_read_only_selection_before_append(rt: Runtime) -> None:
    """Courier answers an APPEND into the mailbox selected read-only with "Current box is selected
    READ-ONLY"; without UNSELECT in its capabilities, CLOSE (which expunges nothing after EXAMINE)."""
    script: Script = [
        *COURIER_LOGIN,
        cmd(rb'EXAMINE "INBOX\.Sent"'),
        ("S", examine(796215069)),
        cmd(rb"UID SEARCH OR HEADER Message-ID .*"),
        ("S", b"* SEARCH\r\n{tag} OK SEARCH done.\r\n"),
        cmd(rb"CLOSE"),
        ("S", b"{tag} OK mailbox closed.\r\n"),
        cmd(rb'APPEND "INBOX\.Sent" \(\\Seen\) \{\d+\}'),
        ("S", b"+ OK\r\n"),
        ("C", rb"Subject: hi\r\n"),  # the message itself (one line here)
        ("C", rb"\r\n"),  # the end of the command after the literal
        ("S", b"{tag} OK [APPENDUID 796215069 1] APPEND Ok.\r\n"),
        cmd(rb"LOGOUT"),
        ("S", b"* BYE Courier-IMAP server shutting down\r\n{tag} OK LOGOUT completed\r\n"),
    ]
    async with scripted(script) as port:
        assert await copy_to_sent(rt, inbox(rt, port), "m1@crm.test", b"Subject: hi\r\n") == "INBOX.Sent"


async def test_unselect_is_used_where_offered() -> None:
    script: Script = [
        ("S", b"* OK [CAPABILITY IMAP4rev1 UNSELECT] ready\r\n"),
        cmd(rb'EXAMINE "Sent"'),
        ("S", examine(7)),
        cmd(rb"UNSELECT"),
        ("S", b"{tag} OK done\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.select("Sent", readonly=True)
        await client.unselect()
        await client.close()


async def test_a_cursor_starts_after_a_read_write_open_and_at_the_highest_uid() -> None:
    """Until a read-write SELECT, Courier answers the clock as UIDVALIDITY (one more per second);
    its SELECT has no UIDNEXT, so the start is the highest UID, not 0 (which would scan all mail)."""
    script: Script = [
        *COURIER_LOGIN,
        cmd(rb'SELECT "INBOX"'),
        ("S", examine(796215087, 3, readonly=False)),
        cmd(rb'EXAMINE "INBOX"'),
        ("S", examine(796215087, 3)),
        cmd(rb"UID FETCH \* \(UID\)"),
        ("S", b"* 3 FETCH (UID 7)\r\n{tag} OK FETCH completed.\r\n"),
    ]
    async with scripted(script) as port:
        client: ImapClient = await connect(port)
        await client.login("u@example.test", "pw")
        info = await stable_select(client, "INBOX")
        await client.close()
    assert (info.uidvalidity, info.uidnext) == (796215087, 8)


async def test_an_empty_folder_without_uidnext_starts_at_zero_without_a_fetch() -> None:
    script: Script = [
        *COURIER_LOGIN,
        cmd(rb'SELECT "INBOX\.Sent"'),
        ("S", examine(796215090, 0, readonly=False)),
        cmd(rb'EXAMINE "INBOX\.Sent"'),
        ("S", examine(796215090, 0)),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u@example.test", "pw")
        info = await stable_select(client, "INBOX.Sent")
        await client.close()
    assert info.uidnext == 1


async def test_a_folder_that_may_only_be_read_still_gets_a_position() -> None:
    script: Script = [
        *COURIER_LOGIN,
        cmd(rb'SELECT "Shared"'),
        ("S", b"{tag} NO [NOPERM] read-only access\r\n"),
        cmd(rb'EXAMINE "Shared"'),
        ("S", examine(5, 0)),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u@example.test", "pw")
        info = await stable_select(client, "Shared")
        await client.close()
    assert info.uidvalidity == 5


def test_a_failed_sent_copy_is_not_reported_as_a_missing_sent_folder() -> None:
    error = {
        "code": "sent_copy_failed",
        "message": "Sent, but the copy to your “INBOX.Sent” folder failed: APPEND failed: quota",
    }
    shown = email_status({"status": "sent", "sent_folder_copy": None, "error": error})["detail"]
    assert "quota" in shown and "none was found" not in shown
    none = email_status({"status": "sent", "sent_folder_copy": None, "error": None})["detail"]
    assert "none was found" in none
