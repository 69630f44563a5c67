"""Bodies and answers of editing and merging contacts (issue 14)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from inboxlink.api.schemas.types import _VALID_UNICODE, Body, Id, Name, View
from inboxlink.api.schemas.views import Contact

Short = Annotated[str, StringConstraints(max_length=100), _VALID_UNICODE]
Phone = Annotated[str, StringConstraints(max_length=40), _VALID_UNICODE]
Stage = Literal[
    "subscriber", "lead", "marketing_qualified_lead", "sales_qualified_lead",
    "opportunity", "customer", "evangelist", "other",
]  # fmt: skip


class ContactUpdate(Body):
    """Only the fields sent change (null clears owner and stage)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"first_name": "Chris", "job_title": "CTO", "lifecycle_stage": "lead"}]
        },
    )

    name: Name | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    phone: Phone | None = None
    job_title: Name | None = None
    owner_id: Annotated[Id | None, Field(description="a user of the team; null: nobody")] = None
    lifecycle_stage: Stage | None = None

    def as_service_input(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class ContactProfile(Contact):
    first_name: str
    last_name: str
    phone: str
    job_title: str
    owner_id: int | None = None
    lifecycle_stage: str | None = None


class ContactMerge(Body):
    other_id: Annotated[
        Id, Field(description="the duplicate: its emails, deals and company move here, then it is deleted")
    ]


class MergedCounts(View):
    contact_id: int
    email: str
    emails: int
    deals: int
    enrolments: int


class MergedContact(ContactProfile):
    merged: MergedCounts
