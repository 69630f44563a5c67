"""Deal rules: a team's pipeline of stages (with the default every team starts with), amounts and
currencies, and which deal BCC-logged mail is filed on. Pure."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

StageKind = Literal["open", "won", "lost"]


@dataclass(frozen=True)
class Stage:
    key: str  # what the API takes and returns as a deal's "stage"
    label: str
    kind: StageKind = "open"


DEFAULT_PIPELINE: tuple[Stage, ...] = (
    Stage("appointment_scheduled", "Appointment scheduled"),
    Stage("qualified", "Qualified"),
    Stage("proposal", "Proposal"),
    Stage("negotiation", "Negotiation"),
    Stage("won", "Won", "won"),
    Stage("lost", "Lost", "lost"),
)

MAX_STAGES = 30
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def check_pipeline(stages: Sequence[Stage]) -> str | None:
    """Why `stages` cannot be a pipeline, or None. Keys unique and snake_case, at least one open
    stage (where new deals start), and at most one won and one lost stage (what closing means)."""
    if not stages or len(stages) > MAX_STAGES:
        return f"a pipeline has 1 to {MAX_STAGES} stages"
    keys = [s.key for s in stages]
    if len(set(keys)) != len(keys):
        return "stage keys must be unique"
    for stage in stages:
        if not _KEY.match(stage.key):
            return f"stage key {stage.key!r}: lower-case letters, digits and _, starting with a letter"
        if not stage.label.strip() or len(stage.label) > 100:
            return f"stage {stage.key!r} needs a label of at most 100 characters"
    kinds = [s.kind for s in stages]
    if "open" not in kinds:
        return "a pipeline needs at least one open stage"
    if kinds.count("won") > 1 or kinds.count("lost") > 1:
        return "a pipeline has at most one won and one lost stage"
    return None


def first_open_stage(stages: Sequence[Stage]) -> Stage:
    return next(s for s in stages if s.kind == "open")


def stage_by_key(stages: Sequence[Stage], key: str) -> Stage | None:
    return next((s for s in stages if s.key == key), None)


def open_keys(stages: Sequence[Stage]) -> frozenset[str]:
    return frozenset(s.key for s in stages if s.kind == "open")


MAX_AMOUNT = Decimal("1e15")


def parse_amount(value: object) -> Decimal:
    """A deal amount: a number (or its decimal string) ≥ 0, below 10^15, at most 2 decimals.
    ValueError says what is wrong. Floats go through their shortest repr (0.1 stays 0.1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("amount must be a number")
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation as exc:
        raise ValueError("amount must be a number") from exc
    if not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT:
        raise ValueError("amount must be at least 0 and below 10^15")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("amount has at most 2 decimals")
    return amount.quantize(Decimal("0.01"))


_CURRENCY = re.compile(r"^[A-Z]{3}$")


def parse_currency(value: str) -> str:
    """An ISO 4217 code (three letters, any case in, upper case out)."""
    code = value.strip().upper()
    if not _CURRENCY.match(code):
        raise ValueError("currency is a three-letter ISO 4217 code such as EUR or USD")
    return code


def deal_for_logged_mail(open_deals_of_contacts: Collection[int]) -> int | None:
    """BCC-logged mail (no deal chosen by anyone) goes on a deal only when the email's contacts have
    exactly one open deal among them: with two or more nobody can tell which was meant."""
    distinct = set(open_deals_of_contacts)
    return next(iter(distinct)) if len(distinct) == 1 else None
