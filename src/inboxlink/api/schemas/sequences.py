"""Request bodies and responses of sequences and their enrolments (issue 16)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from inboxlink.api.schemas.types import Body, Id, Name, Text, Timestamp, View

Clock = Annotated[
    str, StringConstraints(max_length=5), Field(examples=["09:00"], description="HH:MM, local time")
]
ZoneName = Annotated[str, StringConstraints(max_length=64), Field(examples=["Europe/Berlin"])]


class StepIn(Body):
    template_id: Annotated[Id | None, Field(description="the template this step sends")] = None
    subject: Annotated[Text | None, Field(max_length=998, description="without a template: the subject")] = (
        None
    )
    text: Annotated[Text | None, Field(max_length=100_000, description="without a template: the body")] = None
    delay_days: Annotated[
        StrictInt,
        Field(ge=0, le=365, description="business days after the previous step (the first: after enrolment)"),
    ] = 1
    same_thread: Annotated[StrictBool, Field(description="sent as a reply to the previous step's email")] = (
        False
    )
    position: Annotated[
        StrictInt | None,
        Field(ge=0, description="in a PUT: the saved step this is (its position); leave out for a new step"),
    ] = None


class SequenceIn(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Follow-up after demo",
                    "time_zone": "Europe/Berlin",
                    "steps": [
                        {"subject": "Our demo", "text": "Hi, ...", "delay_days": 0},
                        {"text": "Just following up", "delay_days": 3, "same_thread": True},
                    ],
                }
            ]
        }
    )

    name: Name
    steps: Annotated[list[StepIn], Field(max_length=20)]
    time_zone: ZoneName = "UTC"
    window_start: Clock = "09:00"
    window_end: Clock = "17:00"
    stop_on_company_reply: StrictBool = False
    stop_on_auto_reply: StrictBool = False

    def as_service_input(self) -> dict[str, Any]:
        return self.model_dump()


class EnrolIn(Body):
    inbox_id: Annotated[
        Id, Field(description="one of the caller's connected inboxes: the steps are sent from it")
    ]
    contact_ids: Annotated[list[Id], Field(min_length=1, max_length=100)]


class Step(View):
    position: int
    template_id: int | None
    subject: str
    text: str
    delay_days: int
    same_thread: bool


class Sequence(View):
    id: int
    name: str
    time_zone: str
    window_start: str
    window_end: str
    stop_on_company_reply: bool
    stop_on_auto_reply: bool
    steps: list[Step]
    enrolments: dict[str, int] = Field(description="counts: active, finished, stopped")
    created_at: Timestamp
    updated_at: Timestamp


class SequenceList(View):
    items: list[Sequence]


class HistoryEntry(View):
    kind: str = Field(description="enrolled | step_sent | waiting | auto_reply | stopped | finished")
    email_id: int | None
    detail: dict[str, Any]
    at: Timestamp


class StepEmail(View):
    position: int | None  # null: that step was removed from the sequence since
    email_id: int


class Enrolment(View):
    id: int
    sequence_id: int
    sequence_name: str
    contact_id: int
    contact_email: str
    inbox_id: int
    status: str = Field(description="active | finished | stopped")
    stop_reason: str | None = Field(
        description="replied | company_replied | auto_replied | bounced | failed | unenrolled | completed | …"
    )
    next_step: int | None
    next_run_at: Timestamp | None
    created_at: Timestamp
    ended_at: Timestamp | None
    emails: list[StepEmail]
    history: list[HistoryEntry]


class EnrolmentError(View):
    contact_id: int
    code: str
    message: str


class EnrolResult(View):
    items: list[Enrolment]
    errors: list[EnrolmentError]


class EnrolmentList(View):
    items: list[Enrolment]
