"""Encryption at rest for credentials and stored attachment bytes (Fernet; MultiFernet for rotation).

The key comes from INBOXLINK_SECRET_KEY (one key, or several comma-separated: the first encrypts, all
decrypt), else from `$DATA_DIR/secret.key` (same format), generated once with mode 0600. A box loaded
from the file re-reads it when a token does not decrypt: `inboxlink keys rotate` writes the new key
there while `serve` keeps running."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_FINGERPRINT = b"inboxlink installation key fingerprint v1"
RECHECK = 1.0  # seconds between looks at the key file before encrypting


class SecretKeyError(RuntimeError):
    pass


def _parse(keys: list[str]) -> tuple[tuple[str, ...], MultiFernet]:
    cleaned = tuple(k.strip() for k in keys if k.strip())
    try:
        return cleaned, MultiFernet([Fernet(k.encode()) for k in cleaned])
    except (ValueError, TypeError) as exc:
        raise SecretKeyError(
            "INBOXLINK_SECRET_KEY must be a Fernet key (32 url-safe base64 bytes); "
            "generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from exc


class SecretBox:
    def __init__(self, keys: list[str], key_file: Path | None = None) -> None:
        self._keys, self._fernet = _parse(keys)
        self.key_file = key_file
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        # True when this process generated the key file just now (no key configured, none on disk):
        # keys.check_key then removes it again if the installation already has a key of its own.
        self.generated = False

    @classmethod
    def load(cls, configured: str | None, data_dir: Path) -> SecretBox:
        if configured:
            return cls(configured.split(","))
        key_file = data_dir / "secret.key"
        generated = False
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
                generated = True
        box = cls(key_file.read_text().strip().split(","), key_file)
        box.generated = generated
        return box

    @property
    def keys(self) -> tuple[str, ...]:
        return self._keys

    def use_keys(self, keys: list[str]) -> None:
        """Switch to another key list (rotation): the first encrypts from now on."""
        with self._lock:
            self._keys, self._fernet = _parse(keys)

    def fingerprints(self) -> list[str]:
        """A fingerprint per key, the first key's first: an HMAC of a fixed text, never the key."""
        return [hmac.new(k.encode(), _FINGERPRINT, hashlib.sha256).hexdigest()[:32] for k in self._keys]

    def derived_keys(self, purpose: bytes) -> tuple[bytes, ...]:
        """A key for `purpose` from every configured key, the first key's first: sign with [0],
        verify with all (rotation). HMAC-SHA256(key, purpose), as the web room derives its cookie key."""
        return tuple(hmac.new(k.encode(), purpose, hashlib.sha256).digest() for k in self._keys)

    def encrypt(self, data: bytes) -> bytes:
        # A rotation started by another process puts a new key first in the key file: from at most
        # RECHECK seconds later, this process encrypts with it too (keys.run_rotation waits as long).
        if self.key_file is not None and time.monotonic() - self._checked > RECHECK:
            self._checked = time.monotonic()
            self._reload()
        return self._fernet.encrypt(data)

    def rotate(self, token: bytes) -> bytes:
        """The token re-encrypted under the first key (already so: a fresh token all the same)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            if self._reload():
                return self._fernet.rotate(token)
            raise SecretKeyError("stored data cannot be decrypted with the configured secret key") from None

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            if self._reload():
                try:
                    return self._fernet.decrypt(token)
                except InvalidToken:
                    pass
            raise SecretKeyError("stored data cannot be decrypted with the configured secret key") from exc

    def _reload(self) -> bool:
        """Re-read the key file when it changed (a rotation started elsewhere). True if it did."""
        if self.key_file is None:
            return False
        try:
            keys = self.key_file.read_text().strip().split(",")
        except OSError:
            return False
        if tuple(k.strip() for k in keys if k.strip()) == self._keys:
            return False
        self.use_keys(keys)
        return True
