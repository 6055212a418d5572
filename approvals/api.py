"""Approvals over the API: list and read them, approve or reject a pending one.

Decisions go through ``approvals.services``: it checks the role, locks the
proposal (a decision and the expiry cannot both win), applies an approved
change as a new config version and records every step. Its typed errors answer
for themselves: 409 already decided or expired, 403 below operator, 404 unknown.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import selectors, services
from approvals.models import Approval
from audit.actors import Actor
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


class DecisionInputSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="why; kept with the decision"
    )


DECISION_ANSWERS = {
    400: OpenApiResponse(description="malformed input"),
    403: ErrorSerializer,
    404: ErrorSerializer,
    409: OpenApiResponse(ErrorSerializer, description="already decided, or expired"),
}


class _DecisionView(APIView):
    decide = staticmethod(services.approve)

    def post(self, request: Request, approval_id: int) -> Response:
        serializer = DecisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.decide(
            approval_id=approval_id, actor=Actor.for_user(request.user), note=serializer.validated_data["note"]
        )
        return Response(ApprovalOutputSerializer(selectors.approval_get(approval_id=approval_id)).data)


@extend_schema(tags=TAGS, request=DecisionInputSerializer, responses={200: ApprovalOutputSerializer, **DECISION_ANSWERS})
class ApprovalApproveView(_DecisionView):
    """Approve a pending proposal and apply it at once: the answer's status is
    APPLIED (``applied_config_version`` is the new version) or FAILED, with
    ``failure_reason``, when the bot's configuration moved on since the proposal."""

    decide = staticmethod(services.approve)


@extend_schema(tags=TAGS, request=DecisionInputSerializer, responses={200: ApprovalOutputSerializer, **DECISION_ANSWERS})
class ApprovalRejectView(_DecisionView):
    """Reject a pending proposal: nothing changes but its status."""

    decide = staticmethod(services.reject)


class AdviseInputSerializer(serializers.Serializer):
    advisor = serializers.ChoiceField(choices=["rules", "openai"], default="rules")


class AdviceOutputSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    requested = serializers.CharField()
    advisor = serializers.CharField(help_text="the advisor that served, e.g. advisor:rules (empty: none)")
    proposals = serializers.ListField(child=serializers.IntegerField(), help_text="ids of the new proposals")
    notes = serializers.ListField(child=serializers.CharField())
    refused = serializers.ListField(child=serializers.CharField())
    substituted = serializers.CharField()
    failed = serializers.CharField()
    discarded = serializers.IntegerField(help_text="advisor outputs discarded as invalid (advisor.invalid events)")


class BotAdviseView(APIView):
    @extend_schema(tags=["approvals"], request=AdviseInputSerializer, responses={200: AdviceOutputSerializer})
    def post(self, request: Request, bot_id: int) -> Response:
        """Ask an advisor about a bot now: it may propose changes, which wait for a human."""
        from approvals.advisor.services import advisor_run
        from trading import selectors as trading_selectors

        bot = trading_selectors.bot_get(bot_id=bot_id)
        data = AdviseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = advisor_run(bot=bot, advisor=data.validated_data["advisor"], actor=Actor.for_user(request.user))
        return Response(AdviceOutputSerializer({
            "outcome": report.outcome,
            "requested": report.requested,
            "advisor": report.advisor,
            "proposals": [p.pk for p in report.proposals],
            "notes": report.notes,
            "refused": report.refused,
            "substituted": report.substituted,
            "failed": report.failed,
            "discarded": len(report.invalid),
        }).data)
