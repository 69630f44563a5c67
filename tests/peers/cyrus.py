"""Placeholder until the Cyrus peer lands."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def unavailable() -> str | None:
    return "not written yet"


def start_cyrus(directory: Path) -> Any:
    raise NotImplementedError
