"""A database error's text is logged and kept as a job's last_error: it must not carry the values
of the statement (an address, a subject), only the statement."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

from inboxlink.storage.db import create_engine

people = Table(
    "people", MetaData(), Column("id", Integer, primary_key=True), Column("email", String, unique=True)
)


async def test_integrity_errors_do_not_show_the_values(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(people.metadata.create_all)
            await conn.execute(insert(people).values(email="secret.person@example.test"))
        with pytest.raises(IntegrityError) as caught:
            async with engine.begin() as conn:
                await conn.execute(insert(people).values(email="secret.person@example.test"))
        assert "UNIQUE" in str(caught.value)
        assert "secret.person" not in str(caught.value) and "secret.person" not in repr(caught.value)
    finally:
        await engine.dispose()
