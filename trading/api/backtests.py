"""Backtests as background jobs: ask for one, follow its progress, read its results.

``trading.backtests.backtest_request`` validates the request (strategy and its
parameters, risk limits, cached candles in the range), stores it and queues
``trading.tasks.run_backtest`` once the transaction commits; the worker runs
the same strategy, risk engine and fill model as live trading.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from trading import selectors
from trading.backtests import BacktestRequestError, backtest_request
from trading.models import Backtest, Bot
from trading.strategies.registry import STRATEGIES
from trading.timeframes import TIMEFRAME_SECONDS
from tradingsite.api_common import (
    SYMBOL_PATTERN,
    ErrorSerializer,
    JSONObjectField,
    cursor_pagination,
    parse_filters,
)

TAGS = ["backtests"]


class ParamsField(serializers.JSONField):
    """A strategy's parameters: a JSON object of numbers. Parameters are counts
    and ratios, not money, so a fractional number is read as a float."""

    default_error_messages = {"not_object": "Expected a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.fail("not_object")
        numbers = {key: float(value) if isinstance(value, Decimal) else value for key, value in data.items()}
        return super().to_internal_value(numbers)


class BacktestInputSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=sorted(STRATEGIES))
    strategy_params = ParamsField(
        required=False, default=dict, help_text="the strategy's parameters; missing ones take their defaults"
    )
    symbol = serializers.RegexField(SYMBOL_PATTERN, max_length=20, help_text="e.g. BTCUSDT; its candles must be cached")
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAME_SECONDS))
    start = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="first candle, ISO 8601")
    end = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="last candle, ISO 8601")
    initial_cash = serializers.DecimalField(
        max_digits=24, decimal_places=8, min_value=Decimal("1"), max_value=Decimal("1000000000"),
        required=False, default=Decimal("10000"), help_text='decimal string, e.g. "10000"',
    )
    fee_bps = serializers.DecimalField(
        max_digits=8, decimal_places=4, min_value=Decimal("0"), max_value=Decimal("1000"),
        required=False, default=Decimal("10"), help_text="fee per fill in basis points (10 = 0.1 %)",
    )
    slippage_bps = serializers.DecimalField(
        max_digits=8, decimal_places=4, min_value=Decimal("0"), max_value=Decimal("1000"),
        required=False, default=Decimal("0"), help_text="price slippage per fill in basis points",
    )
    risk_limits = JSONObjectField(
        required=False, default=dict, help_text="sizing and limits; missing ones take their defaults"
    )
    bot = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True, default=None,
        help_text="bot id, to file the backtest under",
    )

    def validate_bot(self, value: int | None) -> Bot | None:
        if value is None:
            return None
        bot = Bot.objects.filter(pk=value).first()
        if bot is None:
            raise serializers.ValidationError(f"no bot with id {value}")
        return bot

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and end < start:
            raise serializers.ValidationError({"end": ["must not be before start"]})
        return attrs


class BacktestOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Backtest
        fields = (
            "id", "status", "progress", "error", "created_at", "requested_by", "bot", "symbol", "timeframe",
            "strategy", "strategy_params", "start", "end", "initial_cash", "fee_bps", "slippage_bps",
            "started_at", "finished_at", "candle_count", "metrics",
        )


class EquityPointField(serializers.ListField):
    child = serializers.FloatField()


class BacktestDetailOutputSerializer(BacktestOutputSerializer):
    equity_curve = serializers.ListField(
        child=EquityPointField(), help_text="[open time in ms, equity] pairs, at most 500"
    )

    class Meta(BacktestOutputSerializer.Meta):
        fields = (*BacktestOutputSerializer.Meta.fields, "risk_limits", "blocks", "trades", "equity_curve")


class BacktestFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Backtest.Status.choices, required=False)
    bot = serializers.IntegerField(min_value=1, max_value=2**62, required=False, help_text="bot id")


@extend_schema(tags=TAGS)
class BacktestListView(ListAPIView):
    """Backtests, newest first, without their trades and curve (``GET /api/backtests/{id}`` has them)."""

    serializer_class = BacktestOutputSerializer
    pagination_class = cursor_pagination("-created_at", "-id")

    def get_queryset(self) -> Any:
        return selectors.backtest_list(**parse_filters(BacktestFilterSerializer, self.request.query_params))

    @extend_schema(parameters=[BacktestFilterSerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=BacktestInputSerializer,
        responses={
            202: OpenApiResponse(BacktestOutputSerializer, description="queued; follow it at the Location"),
            400: OpenApiResponse(description="field errors; nothing was queued"),
        },
    )
    def post(self, request: Request) -> Response:
        """Queue a backtest (operator). It runs in a worker; poll its detail for progress and results."""
        serializer = BacktestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            job = backtest_request(
                actor=Actor.for_user(request.user),
                symbol=data["symbol"],
                timeframe=data["timeframe"],
                strategy=data["strategy"],
                params=data["strategy_params"],
                risk_limits=data["risk_limits"],
                start=data["start"],
                end=data["end"],
                initial_cash=data["initial_cash"],
                fee_bps=data["fee_bps"],
                slippage_bps=data["slippage_bps"],
                bot=data["bot"],
            )
        except BacktestRequestError as exc:
            raise serializers.ValidationError({k: [v] for k, v in exc.field_errors.items()}) from None
        location = request.build_absolute_uri(reverse("backtest-detail", kwargs={"backtest_id": job.pk}))
        return Response(BacktestOutputSerializer(job).data, status=202, headers={"Location": location})


class BacktestDetailView(APIView):
    @extend_schema(tags=TAGS, responses={200: BacktestDetailOutputSerializer, 404: ErrorSerializer})
    def get(self, request: Request, backtest_id: int) -> Response:
        """A backtest's status and progress; once done its metrics, blocks by reason, trades and equity curve."""
        return Response(BacktestDetailOutputSerializer(selectors.backtest_get(backtest_id=backtest_id)).data)
