"""The system state (DESIGN.md §4): read it, pause, resume, emergency-stop, recover.

Every change goes through ``trading.state``, which checks the transition,
writes the event (allowed or refused) and answers a refusal with 409.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from trading import state
from trading.models import SystemState
from tradingsite.api_common import ErrorSerializer

State = SystemState.State
TAGS = ["system"]
REFUSED = {
    400: OpenApiResponse(description="malformed input, or a missing reason"),
    409: ErrorSerializer,
}


class SystemStateOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = SystemState
        fields = ("state", "reason", "changed_at", "changed_by", "scheduler_enabled")


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RequiredReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="why it is safe to leave the emergency stop")
    target = serializers.ChoiceField(
        choices=[State.PAUSED, State.RUNNING], default=State.PAUSED, help_text="the state to go to"
    )


def _render() -> Response:
    return Response(SystemStateOutputSerializer(state.current()).data)


class SystemStateView(APIView):
    """The whole system's trading state."""

    @extend_schema(tags=TAGS, responses={200: SystemStateOutputSerializer})
    def get(self, request: Request) -> Response:
        return _render()


class _TransitionView(APIView):
    target: str = ""
    expected_from: str | None = None
    default_reason = ""

    def post(self, request: Request) -> Response:
        serializer = ReasonInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        state.transition(
            target=self.target,
            actor=Actor.for_user(request.user),
            reason=serializer.validated_data["reason"] or self.default_reason,
            expected_from=self.expected_from,
        )
        return _render()


@extend_schema(tags=TAGS, request=ReasonInputSerializer, responses={200: SystemStateOutputSerializer, **REFUSED})
class SystemPauseView(_TransitionView):
    """RUNNING → PAUSED."""

    target = State.PAUSED
    expected_from = State.RUNNING


@extend_schema(tags=TAGS, request=ReasonInputSerializer, responses={200: SystemStateOutputSerializer, **REFUSED})
class SystemResumeView(_TransitionView):
    """PAUSED → RUNNING. Leaving an emergency stop is ``resume-after-emergency``."""

    target = State.RUNNING
    expected_from = State.PAUSED


@extend_schema(tags=TAGS, request=ReasonInputSerializer, responses={200: SystemStateOutputSerializer, **REFUSED})
class SystemEmergencyStopView(_TransitionView):
    """Any state → EMERGENCY_STOP: cancels working orders and blocks new ones."""

    target = State.EMERGENCY_STOP
    default_reason = "emergency stop"


class SystemResumeAfterEmergencyView(APIView):
    """EMERGENCY_STOP → PAUSED (default) or RUNNING, with a written reason."""

    @extend_schema(
        tags=TAGS,
        request=RequiredReasonInputSerializer,
        responses={200: SystemStateOutputSerializer, **REFUSED},
    )
    def post(self, request: Request) -> Response:
        serializer = RequiredReasonInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        state.resume_after_emergency(actor=Actor.for_user(request.user), **serializer.validated_data)
        return _render()
