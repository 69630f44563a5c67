"""Request bodies and responses of companies, deals and the pipeline (issue 13)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictFloat, StrictInt, StringConstraints

from inboxlink.api.schemas.types import Body, Id, Name, Text, Timestamp, View
from inboxlink.api.schemas.views import ContactAttachment, EmailView, Items

DomainText = Annotated[str, StringConstraints(max_length=253)]
Amount = Annotated[
    StrictInt | StrictFloat | Annotated[str, StringConstraints(max_length=40)],
    Field(description="at least 0, below 10^15, at most 2 decimals (a number or its decimal string)"),
]
StageKey = Annotated[str, StringConstraints(max_length=40)]


class CompanyCreate(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Acme", "domain": "acme.com"}]})

    name: Name | None = None
    domain: DomainText | None = None


class CompanyUpdate(Body):
    name: Name | None = None
    domain: DomainText | None = None


class CompanyMerge(Body):
    from_id: Annotated[Id, Field(description="the company merged into this one (then deleted)")]


class ContactCompany(Body):
    company_id: Annotated[Id | None, Field(description="the contact's company; null: none")] = None


class Company(View):
    id: int
    name: str
    domain: str | None
    domains: list[str] = Field(description="every domain whose addresses belong to it")
    created_at: Timestamp | None


class CompanyList(Items):
    items: list[Company]
    total: int


class DealCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Acme renewal", "company_id": 1, "contact_ids": [1], "amount": 12000}]
        }
    )

    name: Name
    company_id: Id | None = None
    contact_ids: Annotated[list[Id] | None, Field(max_length=500)] = None
    stage: StageKey | None = None
    amount: Amount | None = None
    currency: Annotated[str | None, StringConstraints(max_length=3)] = None
    close_date: Annotated[str | None, Field(max_length=10, description="YYYY-MM-DD")] = None
    owner_id: Id | None = None

    def as_service_input(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)  # left out: the defaults (first stage, the caller)


class DealUpdate(Body):
    name: Name | None = None
    company_id: Id | None = None
    contact_ids: Annotated[list[Id] | None, Field(max_length=500)] = None
    stage: StageKey | None = None
    amount: Amount | None = None
    currency: Annotated[str | None, StringConstraints(max_length=3)] = None
    close_date: Annotated[str | None, Field(max_length=10)] = None
    owner_id: Id | None = None

    def as_service_input(self) -> dict[str, object]:
        # Only what the client sent: a PATCH leaves the rest as it is (null clears a field).
        return self.model_dump(exclude_unset=True)


class Deal(View):
    id: int
    name: str
    stage: str
    stage_label: str
    is_open: bool
    amount: float | int | None
    currency: str | None
    close_date: str | None
    owner_id: int | None
    company_id: int | None
    contact_ids: list[int]
    created_at: Timestamp | None
    updated_at: Timestamp | None


class DealList(Items):
    items: list[Deal]
    total: int


class StageIn(Body):
    key: StageKey
    label: Annotated[Text, StringConstraints(max_length=100)]
    kind: Literal["open", "won", "lost"] = "open"


class PipelineIn(Body):
    stages: Annotated[list[StageIn], Field(max_length=30)]


class StageView(View):
    key: str
    label: str
    kind: str


class Pipeline(View):
    stages: list[StageView]


class RecordEmails(Items):
    items: list[EmailView] = Field(description="newest first")
    next_cursor: str | None = None


class RecordAttachments(Items):
    items: list[ContactAttachment]
    next_cursor: str | None = None
