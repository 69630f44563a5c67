"""Field types shared by request bodies and responses."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Interval
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from inboxlink.services.validation import MAX_DB_INT, MIN_DB_INT, has_surrogates


def _valid_unicode(value: str) -> str:
    # JSON escapes can carry lone surrogates ("\ud800") that no database or mail header can hold.
    if has_surrogates(value):
        raise PydanticCustomError("invalid_text", "contains a lone surrogate")
    return value


_VALID_UNICODE = AfterValidator(_valid_unicode)
# Text as JSON sends it, without lone surrogates; and the bounded kinds the services accept.
Text = Annotated[str, _VALID_UNICODE]
# The format tells clients (and generated tests) what is meant; the service checks the address.
Address = Annotated[
    str, StringConstraints(max_length=320), _VALID_UNICODE, Field(json_schema_extra={"format": "email"})
]
Name = Annotated[str, StringConstraints(max_length=200), _VALID_UNICODE]
Filename = Annotated[str, StringConstraints(max_length=255), _VALID_UNICODE]
HostName = Annotated[str, StringConstraints(max_length=255), _VALID_UNICODE]
HeaderLine = Annotated[str, StringConstraints(max_length=998), _VALID_UNICODE]
Password = Annotated[str, StringConstraints(max_length=1024), _VALID_UNICODE]
# An id as the databases store it (signed 64-bit); JSON true/false or "5" are not ids.
Id = Annotated[StrictInt, Interval(ge=MIN_DB_INT, le=MAX_DB_INT)]


def _thread_ref(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        raise PydanticCustomError("invalid_field", 'must be a thread id or "new"') from exc


# Where a relinked email goes: an existing thread, or "new".
ThreadRef = Annotated[Id | Literal["new"], WrapValidator(_thread_ref)]


def address_as_object(value: Any) -> Any:
    return {"email": value} if isinstance(value, str) else value


# An instant as the API writes it (ISO 8601, UTC).
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Body(BaseModel):
    """A request body: unknown fields are ignored, as they always were."""

    model_config = ConfigDict(extra="ignore")

    def as_service_input(self) -> dict[str, Any]:
        """The plain dict the services take (the web forms build the same shape)."""
        return self.model_dump()


class View(BaseModel):
    """A response object: fields added by the services pass through even before they are declared
    here (a response model would otherwise drop them silently)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ErrorDetail(View):
    code: str = Field(description="snake_case, stable: what went wrong")
    message: str = Field(description="a sentence a person can act on")
    field: str | None = Field(default=None, description="the request field at fault, when there is one")


class ErrorResponse(BaseModel):
    error: ErrorDetail


# The error answers every /api/v1 route may give, in the contract's shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        401: "no valid API token",
        404: "no such object in the caller's team",
        409: "it exists already",
        413: "the request body is too large",
        422: "the request cannot be carried out (the code and message say why)",
    }.items()
}
