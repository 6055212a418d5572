"""One JSON shape for API errors; typed service errors map to their status."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tradingsite.errors import ServiceError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {"detail": exc.message, "code": exc.code}
        if exc.field_errors:
            body.update({k: [v] for k, v in exc.field_errors.items()})
        return Response(body, status=exc.http_status)
    return drf_exception_handler(exc, context)
