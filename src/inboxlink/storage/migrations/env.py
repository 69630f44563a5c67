"""Alembic environment: sync engine from the config's URL; the target is our Core metadata."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from inboxlink.storage import (  # noqa: F401  (their tables join the metadata)
    composer_tables,
    contact_profile_tables,
    crm_tables,
    platform_tables,
    reading_tables,
    search_tables,
    sequence_tables,
    worker_tables,
)
from inboxlink.storage.tables import metadata

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
