"""The base of typed service errors: each knows how the API should answer it."""

from __future__ import annotations


class ServiceError(Exception):
    http_status = 400
    code = "invalid"

    def __init__(self, message: str, *, field_errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
