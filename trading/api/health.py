"""``GET /api/health``: public reachability report."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading.health import health


class HealthView(APIView):
    """Public: database and broker reachability and the age of the last cycle."""

    # Public, so a stale or broken token must not turn it into a 401.
    authentication_classes: list[type] = []

    @extend_schema(tags=["health"], responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        report = health()
        return Response(report, status=200 if report["status"] == "ok" else 503)
