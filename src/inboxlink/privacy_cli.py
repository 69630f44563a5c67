"""`inboxlink forget EMAIL`, `inboxlink keys rotate|status` and `inboxlink blobs move` (called from cli.py)."""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy import select

from inboxlink.services.crm import search_backfill  # noqa: F401  (its index is re-hashed by a rotation)
from inboxlink.services.crm.forget import forget_address
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform import keys
from inboxlink.services.platform.blob_move import move_file_blobs
from inboxlink.services.platform.runtime import Runtime
from inboxlink.services.validation import normalise_address
from inboxlink.storage.tables import teams


async def _team(rt: Runtime, name: str) -> int:
    async with rt.engine.connect() as conn:
        found = await conn.scalar(select(teams.c.id).where(teams.c.name == name))
    if found is None:
        raise ServiceError("team_not_found", f"No team named {name!r}.")
    return int(found)


async def privacy_command(rt: Runtime, args: argparse.Namespace) -> int:
    await keys.check_key(rt)
    if args.command == "blobs":
        copied = await move_file_blobs(rt, report=lambda line: print(line, file=sys.stderr))
        print(
            f"moved {copied.moved:,} attachment blob(s) into the database; {copied.missing:,} not on this host's disk"
        )
        return 0
    if args.command == "forget":
        address = normalise_address(args.email, field="email")
        done = await forget_address(rt, await _team(rt, args.team), address, f"cli:{getpass.getuser()}")
        if done is None:
            print(
                f"no contact {address} in team {args.team}; it is on the team's never-log list now",
                file=sys.stderr,
            )
        else:
            print(
                f"forgot {address}: {done.emails_deleted} email(s) deleted, {done.emails_kept} kept for "
                f"other contacts without the address, {done.blobs_deleted} file(s) removed"
                + (" (this address was forgotten before)" if done.seen_before else ""),
                file=sys.stderr,
            )
        return 0
    if args.action == "status":
        for line in await keys.status_lines(rt):
            print(line)
        return 0
    generation = await keys.begin_rotation(rt)
    if generation is None:
        print(
            "Everything is encrypted with the current key. To rotate: generate a new key (python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'), set "
            "INBOXLINK_SECRET_KEY=NEW,CURRENT on every host and restart them, then run `inboxlink keys "
            "rotate` again; remove CURRENT once it reports the rotation finished.",
            file=sys.stderr,
        )
        return 1
    print(
        f"re-encrypting under key generation {generation} (resumable: run again after an interruption)",
        file=sys.stderr,
    )
    await keys.run_rotation(
        rt, batch=max(1, args.batch), report=lambda line: print(line, file=sys.stderr, flush=True)
    )
    print("rotation finished: the old key(s) can be removed from INBOXLINK_SECRET_KEY", file=sys.stderr)
    return 0
