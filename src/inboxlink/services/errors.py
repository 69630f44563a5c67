"""One error family for the use cases; the API maps `code` and `status` to its JSON error body."""

from __future__ import annotations


class ServiceError(Exception):
    status = 422

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(ServiceError):
    status = 404

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}_not_found", f"No {what.replace('_', ' ')} with that id exists.")


class Conflict(ServiceError):
    status = 409


class Unauthorized(ServiceError):
    status = 401


class TooManyAttempts(ServiceError):
    """A rate limit was reached; the message says when to try again."""

    status = 429

    def __init__(self, message: str) -> None:
        super().__init__("too_many_attempts", message)


class Forbidden(ServiceError):
    """The caller is signed in but may not do this (e.g. team settings need an admin)."""

    status = 403
