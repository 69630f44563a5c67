"""The `?v=` of the static files changes when any of them changes, so a browser never runs a cached
old script against a new page (templates.js was once left out of the hash)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inboxlink.web import render


@pytest.mark.parametrize("name", sorted(p.name for p in render.STATIC_DIR.iterdir() if p.is_file()))
def test_changing_any_static_file_changes_the_version(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "static"
    shutil.copytree(render.STATIC_DIR, copy)
    monkeypatch.setattr(render, "STATIC_DIR", copy)
    before = render._asset_version()
    with (copy / name).open("ab") as f:
        f.write(b"\n")
    assert render._asset_version() != before
