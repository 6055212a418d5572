"""REST API views of the trading app (thin: parse, authorise, call a service)."""

from __future__ import annotations

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading.health import health


class HealthView(APIView):
    """Public: database and broker reachability and the age of the last cycle."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        report = health()
        return Response(report, status=200 if report["status"] == "ok" else 503)
