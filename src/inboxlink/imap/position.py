"""Where a folder stands, for starting to follow it: a UIDVALIDITY that will hold and the UIDNEXT.

Two server quirks make a plain EXAMINE a poor answer (measured against Courier-IMAP 5.0.13):
- Courier keeps a folder's UID database only once the folder has been opened read-write; until
  then every EXAMINE (and STATUS) answers the current time as UIDVALIDITY, so a cursor taken from
  it is stale a second later. Comparing two looks cannot tell (within one second they agree), so a
  cursor starts after one read-write SELECT, on every server: it is what any mail client does, it
  changes no flags (only the per-session \\Recent), and every later FETCH stays BODY.PEEK.
- Courier sends no UIDNEXT in SELECT/EXAMINE. The highest UID (`UID FETCH * (UID)`) gives the same
  "everything up to here was already there".
"""

from __future__ import annotations

from .client import ImapClient
from .errors import CommandFailed
from .models import SelectInfo


async def stable_select(client: ImapClient, folder: str, *, condstore: bool = False) -> SelectInfo:
    """EXAMINE `folder` (left selected read-only) after one read-write SELECT, so its UIDVALIDITY
    holds, with a UIDNEXT even where the server's SELECT has none."""
    try:
        await client.select(folder, readonly=False)
    except CommandFailed:
        pass  # a folder we may only read: the EXAMINE below answers (or fails) for itself
    info = await client.select(folder, readonly=True, condstore=condstore)
    if info.uidnext is None:
        info = SelectInfo(info.exists, info.uidvalidity, await _uidnext(client, info), info.highestmodseq)
    return info


async def _uidnext(client: ImapClient, info: SelectInfo) -> int:
    if info.exists == 0:
        return 1  # nothing there yet: whatever arrives is new
    # "*" is the highest UID in the folder, whatever the UIDs are.
    top = [m.uid for m in await client.uid_fetch("*", "(UID)")]
    return (max(top) + 1) if top else 1
