from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.app import TestApp, running_app


@pytest.fixture
async def app(tmp_path: Path, trust_test_ca: None) -> AsyncIterator[TestApp]:
    async with running_app(tmp_path / "data") as test_app:
        yield test_app
