"""The scheduler: the global switch for every bot's cycles, and each bot's own
switch and interval.

Every change goes through ``trading.scheduling``, which keeps beat's periodic
tasks in step and records the change as an event.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from trading import scheduling, selectors
from trading.selectors import BotSchedule
from tradingsite.api_common import ErrorSerializer

TAGS = ["scheduler"]
BAD_INPUT = {400: OpenApiResponse(description="field errors; nothing was changed")}


class BotScheduleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="bot.pk")
    name = serializers.CharField(source="bot.name")
    enabled = serializers.BooleanField(source="bot.enabled", help_text="the bot's own switch")
    interval_seconds = serializers.IntegerField(help_text="seconds between cycles (0: no config, never runs)")
    interval_source = serializers.SerializerMethodField(help_text="bot: its own interval; timeframe: one per candle")
    timeframe = serializers.CharField(source="config.timeframe", default=None, allow_null=True)
    scheduled = serializers.BooleanField(
        help_text="beat runs it: the bot and the global switch are on and it has an active config"
    )
    last_run_at = serializers.DateTimeField(allow_null=True)
    next_run_at = serializers.DateTimeField(
        allow_null=True, help_text="null when not scheduled, or when it has never run (beat runs it at its next tick)"
    )

    def get_interval_source(self, row: BotSchedule) -> str:
        return "timeframe" if row.follows_timeframe else "bot"


class SchedulerOutputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="the global switch: off stops every bot's cycles")
    bots = BotScheduleOutputSerializer(many=True)


class SchedulerSwitchInputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="true: bots cycle on their schedules; false: none does")


class BotScheduleInputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False, help_text="the bot's own switch")
    interval_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=scheduling.MIN_INTERVAL_SECONDS,
        max_value=scheduling.MAX_INTERVAL_SECONDS,
        help_text="seconds between cycles; null: one cycle per candle of the bot's timeframe",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["change at least one of: enabled, interval_seconds"]})
        return attrs


def _render() -> Response:
    return Response(SchedulerOutputSerializer(selectors.scheduler_view()).data)


class SchedulerView(APIView):
    @extend_schema(tags=TAGS, responses={200: SchedulerOutputSerializer})
    def get(self, request: Request) -> Response:
        """The global switch, and each bot's switch, interval, last and next run."""
        return _render()

    @extend_schema(
        tags=TAGS, request=SchedulerSwitchInputSerializer, responses={200: SchedulerOutputSerializer, **BAD_INPUT}
    )
    def patch(self, request: Request) -> Response:
        """Switch every bot's scheduled cycles on or off (approval expiry keeps running)."""
        serializer = SchedulerSwitchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        scheduling.scheduler_set_enabled(
            enabled=serializer.validated_data["enabled"], actor=Actor.for_user(request.user)
        )
        return _render()


class SchedulerBotView(APIView):
    @extend_schema(
        tags=TAGS,
        request=BotScheduleInputSerializer,
        responses={200: BotScheduleOutputSerializer, **BAD_INPUT, 404: ErrorSerializer},
    )
    def patch(self, request: Request, bot_id: int) -> Response:
        """Switch one bot's cycles on or off, or change its interval (null: back to its timeframe)."""
        bot = selectors.bot_get(bot_id=bot_id)
        serializer = BotScheduleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        interval = data.get("interval_seconds")
        try:
            scheduling.bot_set_schedule(
                bot=bot,
                actor=Actor.for_user(request.user),
                enabled=data.get("enabled"),
                interval=interval,
                clear_interval="interval_seconds" in data and interval is None,
            )
        except scheduling.ScheduleError as exc:
            raise serializers.ValidationError({"interval_seconds": [str(exc)]}) from None
        return Response(BotScheduleOutputSerializer(selectors.bot_schedule(bot_id=bot.pk)).data)
