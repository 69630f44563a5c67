from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import TestApp, running_app
from tests.support.flows import start_conversation
from tests.support.webhooks import FAST, jobs_running

CLIENT = "client@prospect.test"


@pytest.fixture
async def app(tmp_path: Path, trust_test_ca: Any) -> AsyncIterator[TestApp]:
    async with running_app(tmp_path / "data") as test_app:
        yield test_app


@pytest.fixture
async def conversation(app: TestApp, mail_server: Any, provider_smtp: Any, mail_user: Any) -> Any:
    """A connected, monitored inbox and one email sent from the CRM to CLIENT: (user, inbox, email)."""
    return await start_conversation(
        app, mail_server, provider_smtp, mail_user, to=CLIENT, subject="Our offer", text="Hi Chris"
    )


@pytest.fixture
async def hooked_app(tmp_path: Path, trust_test_ca: Any) -> AsyncIterator[TestApp]:
    """A live app with fast webhook retries and its job runner going, as in `serve`."""
    async with running_app(tmp_path / "data", **FAST) as test_app, jobs_running(test_app):
        yield test_app
