from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import TestApp, running_app, wait_for
from tests.support.flows import connect, monitor_connected, wait_sent

CLIENT = "client@prospect.test"


@pytest.fixture
async def app(tmp_path: Path, trust_test_ca: Any) -> AsyncIterator[TestApp]:
    async with running_app(tmp_path / "data") as test_app:
        yield test_app


@pytest.fixture
async def conversation(app: TestApp, mail_server: Any, provider_smtp: Any, mail_user: Any) -> Any:
    """A connected, monitored inbox and one email sent from the CRM to CLIENT: (user, inbox, email)."""
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": CLIENT, "name": "Chris Client"}],
            "subject": "Our offer",
            "text": "Hi Chris",
        },
    )
    sent = await wait_sent(user, resp.json()["id"])
    assert sent["status"] == "sent"
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    return user, inbox, sent
