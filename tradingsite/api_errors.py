"""One JSON shape for API errors; typed service errors map to their status."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from trading.validation import Conflict, InvalidInput
from tradingsite.errors import ServiceError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {"detail": exc.message, "code": exc.code, **getattr(exc, "extra", {})}
        if exc.field_errors:
            body.update({k: [v] for k, v in exc.field_errors.items()})
        return Response(body, status=exc.http_status)
    if isinstance(exc, InvalidInput):
        return Response(exc.field_errors, status=400)
    if isinstance(exc, Conflict):
        return Response({"detail": exc.message, "code": exc.code}, status=409)
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": str(exc) or "not found", "code": "not_found"}, status=404)
    return drf_exception_handler(exc, context)
