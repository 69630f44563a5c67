"""Bodies and answers of the template, snippet and scheduled-send routes (issue 16)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from inboxlink.api.schemas.types import _VALID_UNICODE, Body, HeaderLine, Id, Name, Text, Timestamp, View

Shortcut = Annotated[str, StringConstraints(max_length=40), _VALID_UNICODE]


class TemplateCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "First contact",
                    "subject": "Hello from {{ sender.name }}",
                    "text": 'Hi {{ contact.first_name | default("there") }},\n…',
                }
            ]
        }
    )

    name: Name
    subject: HeaderLine = ""
    text: Text = ""
    html: Text | None = None


class TemplateUpdate(Body):
    name: Name | None = None
    subject: HeaderLine | None = None
    text: Text | None = None
    html: Text | None = None

    def as_service_input(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class TemplateView(View):
    id: int
    name: str
    subject: str
    text: str
    html: str | None
    tokens: list[str] = Field(description="the tokens the template uses")
    created_at: Timestamp | None
    updated_at: Timestamp | None


class TemplateList(View):
    items: list[TemplateView]


class PreviewRequest(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"contact_id": 1}]})

    contact_id: Annotated[Id, Field(description="whom to render it for")]
    deal_id: Annotated[Id | None, Field(description="the deal for {{ deal.name }}")] = None


class Preview(View):
    template_id: int
    contact_id: int
    deal_id: int | None
    subject: str
    text: str
    html: str | None = Field(description="sanitised")


class SnippetCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"shortcut": "pricing", "name": "Pricing", "text": "Our prices: …"}]}
    )

    shortcut: Annotated[Shortcut, Field(description="letters, digits, - and _; typed as #shortcut")]
    name: Name | None = None
    text: Text


class SnippetUpdate(Body):
    shortcut: Shortcut | None = None
    name: Name | None = None
    text: Text | None = None

    def as_service_input(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class SnippetView(View):
    id: int
    shortcut: str
    name: str
    text: str
    created_at: Timestamp | None
    updated_at: Timestamp | None


class SnippetList(View):
    items: list[SnippetView]
