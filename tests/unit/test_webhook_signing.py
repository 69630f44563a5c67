"""Standard Webhooks signatures, checked against the standard's own library and its spec example."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from inboxlink.domain.webhook_signing import new_secret, signature, signature_header
from inboxlink.services.platform.jobs import backoff

# The example of the Standard Webhooks specification (spec/standard-webhooks.md).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

CASES = [
    (SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY),
    (new_secret(), "evt_1", 1_700_000_000, b"{}"),
    (new_secret(), "evt_99999", 1, '{"data":{"subject":"Grüße"}}'.encode()),
]


def test_spec_example() -> None:
    assert signature(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


@pytest.mark.parametrize(("secret", "msg_id", "ts", "body"), CASES)
def test_the_standard_library_verifies_ours(secret: str, msg_id: str, ts: int, body: bytes) -> None:
    header = signature_header([secret], msg_id, ts, body)
    hook = Webhook(secret)
    expected = hook.sign(msg_id, hook_time(ts), body.decode())
    assert header == expected


def hook_time(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_two_secrets_two_signatures_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    header = signature_header([new, old], "evt_1", 5, b"x")
    assert header.split(" ") == [signature(new, "evt_1", 5, b"x"), signature(old, "evt_1", 5, b"x")]


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 10, 20), (2, 20, 40), (3, 40, 80), (10, 1800, 3600), (40, 1800, 3600)],
)
def test_backoff_grows_jittered_and_capped(attempts: int, low: float, high: float) -> None:
    delays = [backoff(attempts, 20.0) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 1  # jittered
