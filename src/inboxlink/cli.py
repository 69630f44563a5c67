"""Command line: serve | worker | users create | tokens create/revoke | migrate | status | forget |
keys rotate/status."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence

from inboxlink.config import ConfigError, load_settings
from inboxlink.privacy_cli import privacy_command
from inboxlink.runner import run
from inboxlink.services.accounts.status import status_lines
from inboxlink.services.accounts.users import create_token, create_user, revoke_tokens
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.keys import KeyMismatch
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.db import migrate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inboxlink", description="A connected inbox for your CRM.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="web UI + API + workers + BCC listener in one process")
    sub.add_parser("worker", help="only the sync/send worker (scale-out on PostgreSQL)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("status", help="one line per inbox: status, last sync, last error, next retry")
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    create = users.add_parser("create", help="create a user; password from stdin or prompted")
    create.add_argument("email")
    create.add_argument("--name", default="")
    create.add_argument("--team", default="default")
    create.add_argument("--admin", action="store_true")
    tokens = sub.add_parser("tokens", help="API tokens").add_subparsers(dest="action", required=True)
    tokens.add_parser("create", help="print a new API token for a user").add_argument("email")
    tokens.add_parser("revoke", help="revoke every API token of a user").add_argument("email")
    forget = sub.add_parser("forget", help="erase a contact and everything logged only on them (GDPR)")
    forget.add_argument("email")
    forget.add_argument("--team", default="default")
    keys = sub.add_parser("keys", help="the installation key").add_subparsers(dest="action", required=True)
    rotate = keys.add_parser("rotate", help="re-encrypt everything under a new key (resumable)")
    rotate.add_argument("--batch", type=int, default=200, help="rows per transaction")
    keys.add_parser("status", help="key generations and the rotation's progress")
    blobs = sub.add_parser("blobs", help="attachment bytes").add_subparsers(dest="action", required=True)
    blobs.add_parser("move", help="copy this host's attachment files into the database (multi-host)")
    return parser


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise ServiceError("password_mismatch", "The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _with_runtime(settings: object, action: str, args: argparse.Namespace) -> int:
    rt = Runtime.create(settings)  # type: ignore[arg-type]
    try:
        if action == "users":
            user = await create_user(
                rt, args.email, _read_password(), name=args.name, team=args.team, admin=args.admin
            )
            print(f"created user {user.email} (team id {user.team_id})", file=sys.stderr)
        elif action == "tokens" and args.action == "revoke":
            count = await revoke_tokens(rt, args.email)
            print(f"revoked {count} token(s) of {args.email}", file=sys.stderr)
        elif action == "tokens":
            print(await create_token(rt, args.email))
        elif action == "status":
            for line in await status_lines(rt):
                print(line)
        elif action in ("forget", "keys", "blobs"):
            return await privacy_command(rt, args)
    finally:
        await rt.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        if args.command in {"serve", "worker"}:
            asyncio.run(run(settings, http=args.command == "serve", bcc=args.command == "serve"))
            return 0
        migrate(settings.database_url)
        if args.command == "migrate":
            print("database schema is up to date", file=sys.stderr)
            return 0
        return asyncio.run(_with_runtime(settings, args.command, args))
    except (ConfigError, ServiceError, KeyMismatch) as exc:
        print(f"inboxlink: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
