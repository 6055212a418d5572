"""One JSON shape for API errors; typed service errors map to their status."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from trading.state import StateError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, StateError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.http_status)
    return drf_exception_handler(exc, context)
