"""Attachment bytes on disk, encrypted at rest, under names we choose (never the mail's filename, so
a hostile name such as `../../etc/passwd` cannot place a file anywhere)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from inboxlink.storage.secretbox import SecretBox


class BlobStore:
    def __init__(self, root: Path, box: SecretBox) -> None:
        self.root = root
        self._box = box

    def put(self, data: bytes) -> str:
        name = secrets.token_hex(16)
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(self._box.encrypt(data))
        # rename is atomic: a crash never leaves a half-written blob under its final name
        os.replace(tmp, path)
        return name

    def get(self, name: str) -> bytes:
        return self._box.decrypt(self._path(name).read_bytes())

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def _path(self, name: str) -> Path:
        if not name.isalnum():
            raise ValueError("invalid blob name")
        return self.root / name[:2] / name
