"""Run one trading cycle of a bot now, and say what came of it.

The cycle is the same one beat runs (``trading.cycle.run_cycle``, through
``trading.services.cycle_trigger``): single flight per bot, one action per
candle, the system state and the risk engine in front of any order.
"""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from trading import selectors
from trading.api.records import OrderOutputSerializer
from trading.cycle import CycleOutcome
from trading.models import CycleRun
from trading.services import cycle_trigger
from tradingsite.api_common import ErrorSerializer

TAGS = ["bots"]


class CycleRunOutputSerializer(serializers.ModelSerializer):
    config_version = serializers.IntegerField(source="config.version", allow_null=True, default=None)

    class Meta:
        model = CycleRun
        fields = ("id", "started_at", "candle_time", "status", "detail", "actor", "config_version")


class SignalOutputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["BUY", "SELL", "HOLD"])
    reason = serializers.CharField()
    indicators = serializers.DictField(child=serializers.FloatField(), help_text="indicator values at the candle")


class ReasonOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    blocking = serializers.BooleanField()


class DecisionOutputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=["ALLOW", "BLOCK", "NONE"])
    side = serializers.CharField(allow_null=True)
    quantity = serializers.DecimalField(max_digits=30, decimal_places=12, help_text="0 unless ALLOW")
    reasons = ReasonOutputSerializer(many=True)
    emergency_stop = serializers.BooleanField(help_text="the drawdown limit was breached: the system stopped")


class CycleOutcomeOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CycleRun.Status.choices)
    message = serializers.CharField(help_text="what happened, or why the cycle was skipped")
    skip_reason = serializers.CharField(
        allow_null=True,
        help_text="when skipped: locked, no_new_candle, no_data, no_config, blocked, exchange_error, rate_limited, …",
    )
    cycle = CycleRunOutputSerializer(allow_null=True)
    signal = SignalOutputSerializer(allow_null=True)
    decision = DecisionOutputSerializer(allow_null=True)
    order = OrderOutputSerializer(allow_null=True)


def outcome_data(outcome: CycleOutcome) -> dict[str, Any]:
    """The outcome as plain values (signals are dataclasses with an enum)."""
    skip_reason = None
    if outcome.status == "skipped" and outcome.cycle is not None:
        # A skipped cycle's detail is "<code>: <why>" (trading.cycle._skip).
        skip_reason = outcome.cycle.detail.split(":", 1)[0]
    signal = outcome.signal
    decision = outcome.decision
    return {
        "status": outcome.status,
        "message": outcome.message,
        "skip_reason": skip_reason,
        "cycle": outcome.cycle,
        "signal": None if signal is None else {
            "action": signal.action.name,
            "reason": signal.reason,
            "indicators": {k: v for k, v in signal.indicators.items() if math.isfinite(v)},
        },
        "decision": None if decision is None else {
            "verdict": decision.verdict,
            "side": decision.side,
            "quantity": decision.quantity,
            "reasons": [{"code": r.code, "message": r.message, "blocking": r.blocking} for r in decision.reasons],
            "emergency_stop": decision.emergency_stop,
        },
        "order": outcome.order,
    }


class BotCycleView(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={
            200: OpenApiResponse(
                CycleOutcomeOutputSerializer,
                description="done (signal, risk decision with its reasons, the order if any) or skipped (and why)",
            ),
            404: ErrorSerializer,
        },
    )
    def post(self, request: Request, bot_id: int) -> Response:
        """Run one cycle of the bot now, as the scheduler would, and answer with its outcome."""
        bot = selectors.bot_get(bot_id=bot_id)
        outcome = cycle_trigger(bot=bot, actor=Actor.for_user(request.user))
        return Response(CycleOutcomeOutputSerializer(outcome_data(outcome)).data)
