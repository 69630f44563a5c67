"""The `app` fixture on both backends, for the companies-and-deals tests (bulk inserts with
RETURNING, ON CONFLICT, INSERT … SELECT differ between SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import TestApp, fresh_postgres_db, postgres_reachable, running_app


@pytest.fixture(params=["sqlite", "postgresql"])
async def app(request: pytest.FixtureRequest, tmp_path: Path, trust_test_ca: Any) -> AsyncIterator[TestApp]:
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            if reason := postgres_reachable():
                pytest.skip(reason)
            url = stack.enter_context(fresh_postgres_db())
        async with running_app(tmp_path / "data", url) as test_app:
            yield test_app
