"""Bodies and answers of the privacy routes (never-log lists, privacy settings, retention preview)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from inboxlink.api.schemas.types import _VALID_UNICODE, Body, Timestamp, View

Entry = Annotated[str, StringConstraints(max_length=320), _VALID_UNICODE]


class NeverLogCreate(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"value": "rival.example", "scope": "team"}]})

    value: Annotated[Entry, Field(description="an address (name@example.com) or a domain (example.com)")]
    scope: Literal["team", "me"] = "me"


class NeverLogEntry(View):
    id: int
    value: str
    scope: Literal["team", "me"]
    created_at: Timestamp | None = None


class NeverLogList(View):
    items: list[NeverLogEntry]


class PrivacySettingsUpdate(Body):
    internal_domains: Annotated[list[Entry], Field(max_length=50)] | None = None
    retention_days: Annotated[int, Field(ge=1, le=36_500, strict=True)] | None = None

    def as_service_input(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class PrivacySettings(View):
    internal_domains: list[str]
    retention_days: int | None


class RetentionPreview(View):
    days: int
    emails: int
    attachments: int
    bytes: int
