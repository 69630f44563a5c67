"""Encryption at rest for credentials and stored attachment bytes (Fernet; MultiFernet for rotation).

The key comes from INBOXLINK_SECRET_KEY (one key, or several comma-separated: the first encrypts, all
decrypt), else from `$DATA_DIR/secret.key`, generated once with mode 0600."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretKeyError(RuntimeError):
    pass


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        self._keys = tuple(k.strip() for k in keys if k.strip())
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys if k.strip()])
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "INBOXLINK_SECRET_KEY must be a Fernet key (32 url-safe base64 bytes); "
                "generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc

    @classmethod
    def load(cls, configured: str | None, data_dir: Path) -> SecretBox:
        if configured:
            return cls(configured.split(","))
        key_file = data_dir / "secret.key"
        if not key_file.exists():
            # 0700: the data dir holds the key, the database and the attachment blobs.
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once must not write two different keys.
            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key())
        return cls([key_file.read_text().strip()])

    def derived_keys(self, purpose: bytes) -> tuple[bytes, ...]:
        """A key for `purpose` from every configured key, the first key's first: sign with [0],
        verify with all (rotation). HMAC-SHA256(key, purpose), as the web room derives its cookie key."""
        return tuple(hmac.new(k.encode(), purpose, hashlib.sha256).digest() for k in self._keys)

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise SecretKeyError("stored data cannot be decrypted with the configured secret key") from exc
