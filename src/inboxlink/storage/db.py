"""Engines and schema migration. The app runs on async drivers (aiosqlite, psycopg 3); Alembic runs
on the matching sync drivers so `inboxlink migrate` needs no event loop."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, event, func
from sqlalchemy.engine import URL, CursorResult, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from inboxlink.domain.search_terms import NAME_FOLD_FROM, NAME_FOLD_TO, fold_name

MIGRATIONS = Path(__file__).parent / "migrations"

# aiosqlite logs every statement *with its parameters* at DEBUG: BCC tokens, password hashes, token
# hashes. An operator who turns the root logger to DEBUG must not get credentials in the log.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


def _url(raw: str, *, use_async: bool) -> URL:
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite" if use_async else "sqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    return url


def sync_url(raw: str) -> URL:
    return _url(raw, use_async=False)


FOLD_FUNCTION = "inboxlink_fold"


def folded(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """`column` with accents off and in lower case (domain.search_terms.fold_name), for names: SQLite
    calls the Python function registered on every connection, PostgreSQL translate()s the same table."""
    if dialect == "sqlite":
        return getattr(func, FOLD_FUNCTION)(column)
    return func.lower(func.translate(column, NAME_FOLD_FROM, NAME_FOLD_TO))


def _fold(value: object) -> object:
    return fold_name(value) if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    dbapi_connection.create_function(FOLD_FUNCTION, 1, _fold, deterministic=True)  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL: readers (API) never block the writer (sync worker); busy_timeout absorbs short contention.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten with zeros, not left readable in free pages (forgetting a
    # contact, retention: issue 15). Costs a little write I/O on deletes only.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def create_engine(raw: str) -> AsyncEngine:
    """hide_parameters: a database error's text (logged, kept as a job's last_error) never carries
    the statement's values — addresses, subjects, sealed bodies."""
    url = _url(raw, use_async=True)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True)


async def checkpoint_wal(engine: AsyncEngine) -> None:
    """SQLite: copy the WAL into the database file and truncate it to zero bytes, so old page
    versions (rows just deleted) stay in neither file. A no-op elsewhere. Retried while readers
    hold old snapshots (the checkpoint cannot pass them)."""
    if engine.dialect.name != "sqlite":
        return
    import asyncio

    from sqlalchemy import text

    for _ in range(50):
        async with engine.connect() as conn:
            busy = (await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))).first()
        if busy is None or not busy[0]:
            return
        await asyncio.sleep(0.1)


def alembic_config(raw: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's ini interpolation treats % specially; URLs with escaped passwords need doubling.
    cfg.set_main_option(
        "sqlalchemy.url", sync_url(raw).render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


def migrate(raw: str) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    url = sync_url(raw)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database)
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created private: the database holds mail and the BCC tokens (os.open: never a moment at 0644).
        os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
    command.upgrade(alembic_config(raw), "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def new_id(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT just made."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("INSERT returned no primary key")
    return int(key[0])
