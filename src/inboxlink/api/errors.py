"""Every error leaves as {"error": {"code", "message"}} with a 4xx status (the contract).

Type errors found by the request models get the same shape as the services' refusals: a code, the
field's path as the services write it (`to[1].email`), and a sentence in our words, not pydantic's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from inboxlink.services.errors import ServiceError

_LOCATIONS = ("body", "query", "path", "header", "cookie")
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_SURROGATE_TEXT = "contains a character that is not valid Unicode (a lone surrogate); remove it"

# pydantic error type → (our code, the sentence after the field's name)
_SENTENCES: dict[str, tuple[str, str]] = {
    "missing": ("field_required", "is required"),
    "int_type": ("invalid_field", "must be a whole number"),
    "int_parsing": ("invalid_field", "must be a whole number"),
    "int_from_float": ("invalid_field", "must be a whole number"),
    "string_type": ("invalid_field", "must be text"),
    "list_type": ("invalid_field", "must be a list"),
    "bool_type": ("invalid_field", "must be true or false"),
    "bool_parsing": ("invalid_field", "must be true or false"),
    "model_type": ("invalid_field", "must be an object"),
    "model_attributes_type": ("invalid_field", "must be an object"),
    "dict_type": ("invalid_field", "must be an object"),
}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def field_path(loc: Sequence[Any]) -> str:
    """("body", "to", 1, "email") → "to[1].email", the way the services name fields."""
    path = ""
    for part in loc[1:] if loc and loc[0] in _LOCATIONS else loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and _FIELD_NAME.fullmatch(part):  # not a union member's tag
            path += f".{part}" if path else part
    return path


def describe(error: dict[str, Any]) -> tuple[str, str, str]:
    """(code, field, message) for one pydantic error."""
    kind = str(error.get("type", ""))
    where = field_path(error.get("loc", ()))
    ctx = error.get("ctx") or {}
    if kind == "json_invalid":
        return "invalid_json", "", f"The request body is not valid JSON: {ctx.get('error', 'parse error')}."
    if not where and kind in {"missing", "model_type", "model_attributes_type", "dict_type"}:
        return "invalid_json", "", "The request body must be a JSON object."
    name = where or "the request"
    if kind in _SENTENCES:
        code, sentence = _SENTENCES[kind]
        return code, where, f"{name} {sentence}."
    if kind in {"greater_than_equal", "greater_than"}:
        return "invalid_field", where, f"{name} must be at least {ctx.get('ge', ctx.get('gt'))}."
    if kind in {"less_than_equal", "less_than"}:
        return "invalid_field", where, f"{name} must be at most {ctx.get('le', ctx.get('lt'))}."
    if kind == "string_too_long":
        return "field_too_long", where, f"{name} is longer than {ctx.get('max_length')} characters."
    if kind == "literal_error":
        return "invalid_field", where, f"{name} must be {ctx.get('expected')}."
    if kind in {"invalid_text", "string_unicode"}:
        return "invalid_text", where, f"{name} {_SURROGATE_TEXT}."
    if kind == "invalid_field":  # raised by our own field types with the sentence's end
        return "invalid_field", where, f"{name} {error.get('msg')}."
    message = str(error.get("msg") or "is not valid").rstrip(".")
    return "invalid_field", where, f"{name}: {message[:1].lower()}{message[1:]}."


def _first_error(errors: Sequence[Any]) -> dict[str, Any]:
    return dict(errors[0]) if errors else {}


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        code, field, message = describe(_first_error(exc.errors()))
        return error_response(422, code, message, field or None)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))
