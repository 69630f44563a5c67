"""Standard Webhooks signatures (https://www.standardwebhooks.com): `v1,` + base64 HMAC-SHA256 of
`"{id}.{timestamp}.{body}"`, keyed with the bytes of the secret (`whsec_` + base64). Several
signatures (old and new secret during a rotation) go space-separated in one header."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(signature(s, msg_id, timestamp, body) for s in secrets_)
