"""The verification snippets of docs/webhooks.md, run against deliveries signed by inboxlink."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from inboxlink.domain.webhook_signing import new_secret, signature_header

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)


def _signed(secrets: list[str], body: bytes) -> dict[str, str]:
    stamp = int(time.time())
    return {
        "webhook-id": "evt_12",
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature_header(secrets, "evt_12", stamp, body),
    }


def test_both_snippets_are_there() -> None:
    assert len(SNIPPETS) == 2 and "standardwebhooks" in SNIPPETS[0] and "hmac" in SNIPPETS[1]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=["standardwebhooks", "stdlib"])
def test_snippet_accepts_ours_and_refuses_tampering(snippet: str) -> None:
    scope: dict[str, Any] = {}
    exec(compile(snippet, str(DOC), "exec"), scope)
    verify = scope["verify"]
    secret, old = new_secret(), new_secret()
    body = json.dumps(
        {"type": "email.logged", "timestamp": "2026-12-02T00:00:00+00:00", "data": {"id": 1}}
    ).encode()
    assert verify(secret, _signed([secret], body), body)["data"] == {"id": 1}
    rotated = _signed([secret, old], body)  # during a rotation: either secret verifies
    assert verify(old, rotated, body)["type"] == "email.logged"
    with pytest.raises(Exception):  # noqa: B017  (each snippet raises its own error type)
        verify(secret, _signed([secret], body), body.replace(b'"id": 1', b'"id": 2'))
    with pytest.raises(Exception):  # noqa: B017
        verify(new_secret(), _signed([secret], body), body)
