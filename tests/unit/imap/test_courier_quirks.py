"""Courier IMAP's habits, as byte scripts (issue 11): it refuses an APPEND into the mailbox that is
selected read-only, and its SELECT has no UIDNEXT. The client leaves the mailbox first (UNSELECT
where offered, else CLOSE, which after EXAMINE expunges nothing) and finds the highest UID itself."""

from __future__ import annotations

import pytest

from inboxlink.imap import CommandFailed
from tests.unit.imap.test_client_scripted import cmd, connect, scripted

COURIER_LOGIN = [
    ("S", b"* OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE QUOTA IDLE] Courier-IMAP ready.\r\n"),
    cmd(rb'LOGIN "u" "p"'),
    ("S", b"{tag} OK [CAPABILITY IMAP4rev1 UIDPLUS IDLE] LOGIN Ok.\r\n"),
]
EXAMINE_SENT = [
    cmd(rb'EXAMINE "INBOX.Sent"'),
    ("S", b"* FLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent)\r\n"
          b"* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n"
          b"* 3 EXISTS\r\n* 0 RECENT\r\n"
          b"* OK [UIDVALIDITY 1764660000] Ok\r\n"
          b"* OK [MYRIGHTS \"acdilrsw\"] ACL\r\n"
          b"{tag} OK [READ-ONLY] Ok\r\n"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("caps", "leave"),
    [(b"IMAP4rev1 UIDPLUS IDLE", rb"CLOSE"), (b"IMAP4rev1 UIDPLUS IDLE UNSELECT", rb"UNSELECT")],
)
async def test_leaves_the_read_only_mailbox_before_append(caps: bytes, leave: bytes) -> None:
    script = [
        *COURIER_LOGIN[:2],
        ("S", b"{tag} OK [CAPABILITY " + caps + b"] LOGIN Ok.\r\n"),
        *EXAMINE_SENT,
        cmd(leave),
        ("S", b"{tag} OK " + leave + b" completed\r\n"),
        ("C", rb"(?P<tag>[A-Za-z0-9]+) APPEND \"INBOX.Sent\" \(\\Seen\) \{5\+?\}\r\n"),
        ("S", b"+ go ahead\r\n"),
        ("C", rb"hello\r\n"),
        ("S", b"{tag} OK [APPENDUID 1764660000 4] APPEND Ok.\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u", "p")
        info = await client.select("INBOX.Sent", readonly=True)
        assert info.uidnext is None  # Courier's SELECT carries no UIDNEXT
        await client.unselect()
        assert await client.append("INBOX.Sent", b"hello") == 4
        await client.close()


async def test_append_into_the_selected_read_only_box_is_what_courier_refuses() -> None:
    # What happened before the fix: the server's refusal, which the send must report as such.
    script = [
        *COURIER_LOGIN,
        *EXAMINE_SENT,
        ("C", rb"(?P<tag>[A-Za-z0-9]+) APPEND \"INBOX.Sent\" \(\\Seen\) \{5\+?\}\r\n"),
        ("S", b"{tag} NO APPEND failed: Current box is selected READ-ONLY.\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u", "p")
        await client.select("INBOX.Sent", readonly=True)
        with pytest.raises(CommandFailed, match="READ-ONLY"):
            await client.append("INBOX.Sent", b"hello")
        await client.close()


async def test_highest_uid_without_uidnext() -> None:
    script = [
        *COURIER_LOGIN,
        *EXAMINE_SENT,
        cmd(rb"UID FETCH \* \(UID\)"),
        ("S", b"* 3 FETCH (UID 17)\r\n{tag} OK FETCH Ok.\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u", "p")
        await client.select("INBOX.Sent", readonly=True)
        assert await client.highest_uid() == 17
        await client.close()
