"""Which Sent folder, and whether to APPEND to it, against scripted iCloud, Gmail and Exchange
servers (format of test_client_scripted.py: ("S", bytes) sent, ("C", regex) expected)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from inboxlink.config import load_settings
from inboxlink.imap import AuthFailed, CommandFailed
from inboxlink.services.accounts.endpoints import Endpoint
from inboxlink.services.accounts.probes import probe_imap
from inboxlink.services.mail.delivery import copy_to_sent
from inboxlink.services.platform.runtime import Runtime
from tests.unit.imap.scripted_server import ScriptedServer, Step
from tests.unit.imap.test_client_scripted import Script, cmd, connect, scripted

ICLOUD_CAPS = (
    b"XAPPLEPUSHSERVICE IMAP4 IMAP4rev1 CONDSTORE ENABLE QRESYNC QUOTA NAMESPACE UIDPLUS CHILDREN BINARY "
    b"UNSELECT SORT CATENATE URLAUTH LANGUAGE ESEARCH ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES "
    b"CONTEXT=SEARCH CONTEXT=SORT WITHIN SASL-IR SEARCHRES METADATA ID XMSEARCH X-SUN-SORT "
    b"ANNOTATE-EXPERIMENT-1 X-UNAUTHENTICATE X-SUN-IMAP XUM1 MULTISEARCH IDLE LIST-STATUS"
)


def select_answer(uidvalidity: int, uidnext: int, mode: bytes) -> bytes:
    return (
        b"* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen)\r\n* 0 EXISTS\r\n* 0 RECENT\r\n"
        b"* OK [UIDVALIDITY %d] UIDs valid\r\n* OK [UIDNEXT %d] Predicted next UID\r\n{tag} OK [%s] Ok\r\n"
    ) % (uidvalidity, uidnext, mode)


def stable(folder: bytes, uidvalidity: int, uidnext: int) -> list[Step]:
    return [
        cmd(rb'SELECT "' + folder + rb'"'),
        ("S", select_answer(uidvalidity, uidnext, b"READ-WRITE")),
        cmd(rb'EXAMINE "' + folder + rb'"'),
        ("S", select_answer(uidvalidity, uidnext, b"READ-ONLY")),
    ]


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.create(load_settings({"INBOXLINK_DATA_DIR": str(tmp_path)}))


async def test_icloud_sent_messages_wins_over_a_stray_sent(rt: Runtime) -> None:
    """iCloud names its Sent folder "Sent Messages" and lists no special-use attributes; a "Sent"
    made by another app sits beside it. Known as iCloud by its AUTH=ATOKEN, whatever the host."""
    script: Script = [
        ("S", b"* OK [CAPABILITY XAPPLEPUSHSERVICE IMAP4 IMAP4rev1 SASL-IR AUTH=ATOKEN AUTH=PLAIN] "
              b"(2109B29-d3afe4d5aba6) pv33p00im-iscream021.me.com\r\n"),
        cmd(rb'LOGIN "u@icloud\.test" "pw"'),
        ("S", b"{tag} OK user u@icloud.test authenticated\r\n"),
        cmd(rb"CAPABILITY"),
        ("S", b"* CAPABILITY " + ICLOUD_CAPS + b"\r\n{tag} OK Completed\r\n"),
        cmd(rb'LIST "" "\*"'),
        ("S", b'* LIST (\\Noinferiors) "/" "INBOX"\r\n* LIST () "/" "Archive"\r\n'
              b'* LIST () "/" "Deleted Messages"\r\n* LIST () "/" "Drafts"\r\n* LIST () "/" "Sent"\r\n'
              b'* LIST () "/" "Sent Messages"\r\n* LIST () "/" "Junk"\r\n{tag} OK LIST completed\r\n'),
        *stable(b"INBOX", 1, 40),
        *stable(b"Sent Messages", 2, 12),
        cmd(rb"LOGOUT"),
        ("S", b"* BYE LOGOUT received\r\n{tag} OK Completed\r\n"),
    ]  # fmt: skip
    async with ScriptedServer([script]) as server:
        probe = await probe_imap(rt, Endpoint("127.0.0.1", server.port, "none"), "u@icloud.test", "pw")
    assert probe.sent_folder == "Sent Messages"
    assert probe.starts == {"INBOX": (1, 39), "Sent Messages": (2, 11)}


def inbox(rt: Runtime, port: int, smtp_host: str, sent: str) -> SimpleNamespace:
    return SimpleNamespace(
        id=1, sent_folder=sent, provider=None, auth="password", username="u@example.test",
        secret=rt.box.encrypt(json.dumps({"password": "pw"}).encode()),
        imap_host="127.0.0.1", imap_port=port, imap_security="none", smtp_host=smtp_host,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("smtp_host", "sent"),
    [("smtp.gmail.com", "[Gmail]/Sent Mail"), ("smtp.office365.com", "Sent Items")],
)
async def test_providers_that_file_their_own_sent_copy_get_no_append(
    rt: Runtime, smtp_host: str, sent: str
) -> None:
    """Gmail and Microsoft 365 file what their SMTP accepted in Sent themselves: an app-password or
    custom-domain mailbox (no OAuth) is recognised by its SMTP server, and no IMAP session is opened
    for a copy (a second copy would be a duplicate in the user's Sent folder)."""
    async with ScriptedServer([]) as server:
        assert (
            await copy_to_sent(rt, inbox(rt, server.port, smtp_host, sent), "m1@crm.test", b"Subject: hi\r\n")
            == sent
        )
    assert server.arrivals == []


async def test_other_providers_get_one_append(rt: Runtime) -> None:
    session: list[Step] = [
        ("S", b"* OK [CAPABILITY IMAP4rev1 UIDPLUS UNSELECT AUTH=PLAIN] ready\r\n"),
        cmd(rb'LOGIN "u@example\.test" "pw"'),
        ("S", b"{tag} OK [CAPABILITY IMAP4rev1 UIDPLUS UNSELECT] in\r\n"),
        cmd(rb'EXAMINE "Sent Messages"'),
        ("S", select_answer(2, 12, b"READ-ONLY")),
        cmd(rb"UID SEARCH OR HEADER Message-ID .*"),
        ("S", b"* SEARCH\r\n{tag} OK done\r\n"),
        cmd(rb"UNSELECT"),
        ("S", b"{tag} OK done\r\n"),
        cmd(rb'APPEND "Sent Messages" \(\\Seen\) \{13\}'),
        ("S", b"+ Ready for literal data\r\n"),
        ("C", rb"Subject: hi\r\n"),
        ("C", rb"\r\n"),
        ("S", b"{tag} OK [APPENDUID 2 12] APPEND completed\r\n"),
        cmd(rb"LOGOUT"),
        ("S", b"* BYE bye\r\n{tag} OK done\r\n"),
    ]
    async with ScriptedServer([session]) as server:
        box = inbox(rt, server.port, "smtp.mail.me.com", "Sent Messages")
        assert await copy_to_sent(rt, box, "m1@crm.test", b"Subject: hi\r\n") == "Sent Messages"
    assert len(server.arrivals) == 1


async def test_gmail_login_over_the_cap_is_not_a_wrong_password() -> None:
    """Gmail answers a login over its 15 connections with NO [ALERT]: a transient refusal
    (CommandFailed, code LIMIT), never AuthFailed, which would disconnect the inbox for good."""
    script: Script = [
        ("S", b"* OK [CAPABILITY IMAP4rev1 X-GM-EXT-1 AUTH=PLAIN] Gimap ready\r\n"),
        cmd(rb'LOGIN "u" "p"'),
        ("S", b"{tag} NO [ALERT] Too many simultaneous connections. (Failure)\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        with pytest.raises(CommandFailed) as refused:
            await client.login("u", "p")
        await client.close()
    assert not isinstance(refused.value, AuthFailed)
    assert refused.value.code == "LIMIT" and "Too many simultaneous" in (refused.value.server_text or "")


async def test_icloud_enable_without_enabled_still_gets_modseq() -> None:
    """iCloud answers ENABLE with a bare OK (no `* ENABLED`): SELECT (CONDSTORE) turns MODSEQ on by
    itself, so the cheap "nothing changed" compare still works there."""
    script: Script = [
        ("S", b"* OK [CAPABILITY IMAP4rev1 CONDSTORE ENABLE QRESYNC IDLE] ready\r\n"),
        cmd(rb"ENABLE CONDSTORE"),
        ("S", b"{tag} OK ENABLE completed\r\n"),
        cmd(rb'EXAMINE "INBOX" \(CONDSTORE\)'),
        ("S", b"* 1 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\n* OK [UIDNEXT 5] x\r\n* OK [HIGHESTMODSEQ 77] x\r\n"
              b"{tag} OK [READ-ONLY] done\r\n"),
        cmd(rb"UID FETCH 4 \(UID FLAGS MODSEQ BODY\.PEEK\[HEADER\.FIELDS \(SUBJECT\)\]\)"),
        ("S", b"* 1 FETCH (UID 4 FLAGS () MODSEQ (77) BODY[HEADER.FIELDS (SUBJECT)] {9}\r\nSubj: x\r\n)\r\n"
              b"{tag} OK done\r\n"),
    ]  # fmt: skip
    async with scripted(script) as port:
        client = await connect(port)
        await client.enable("CONDSTORE")
        info = await client.select("INBOX", readonly=True, condstore=True)
        (message,) = await client.fetch_headers("4", ["SUBJECT"])
        await client.close()
    assert info.highestmodseq == 77 and message.modseq == 77
