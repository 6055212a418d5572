"""Approvals over the API: read-only for now (approve/reject arrive with their services)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import selectors
from approvals.models import Approval
from tradingsite.api_common import ErrorSerializer, cursor_pagination, parse_filters

TAGS = ["approvals"]


class ApprovalFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Approval.Status.choices, required=False)
    bot = serializers.IntegerField(min_value=1, max_value=2**62, required=False, help_text="bot id")


class ApprovalOutputSerializer(serializers.ModelSerializer):
    base_config_version = serializers.IntegerField(source="base_config.version", read_only=True)
    applied_config_version = serializers.IntegerField(
        source="applied_config.version", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Approval
        fields = (
            "id", "kind", "bot", "base_config_version", "change", "rationale", "evidence", "proposer",
            "status", "created_at", "expires_at", "on_expiry", "decider_name", "decided_at",
            "decision_note", "applied_config_version", "failure_reason",
        )


@extend_schema(tags=TAGS, parameters=[ApprovalFilterSerializer])
class ApprovalListView(ListAPIView):
    """Approvals, newest first; filter by status and bot."""

    serializer_class = ApprovalOutputSerializer
    pagination_class = cursor_pagination("-created_at", "-id")

    def get_queryset(self) -> Any:
        return selectors.approval_list(**parse_filters(ApprovalFilterSerializer, self.request.query_params))


class ApprovalDetailView(APIView):
    @extend_schema(tags=TAGS, responses={200: ApprovalOutputSerializer, 404: ErrorSerializer})
    def get(self, request: Request, approval_id: int) -> Response:
        return Response(ApprovalOutputSerializer(selectors.approval_get(approval_id=approval_id)).data)
