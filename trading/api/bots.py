"""Bots and their configuration versions.

Every configuration change is a new version written by
``trading.services.bot_config_create`` (validated by
``trading.validation.validate_config``); a rollback is a new version too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from trading import selectors, services
from trading.models import Bot, BotConfig, Mode
from trading.timeframes import TIMEFRAME_SECONDS
from trading.validation import STRATEGY_RE
from tradingsite.api_common import SYMBOL_PATTERN, ErrorSerializer, JSONObjectField

TAGS = ["bots"]
CONFIG_INPUT_FIELDS = ("symbol", "timeframe", "strategy", "strategy_params", "risk_limits", "mode")
BAD_INPUT = {400: OpenApiResponse(description="field errors; nothing was written")}
NOT_FOUND = {404: ErrorSerializer}


# --- output -----------------------------------------------------------------

class BotConfigOutputSerializer(serializers.ModelSerializer):
    rolled_back_to_version = serializers.IntegerField(
        source="rolled_back_to.version", allow_null=True, read_only=True, default=None
    )

    class Meta:
        model = BotConfig
        fields = (
            "version", "is_active", "symbol", "timeframe", "strategy", "strategy_params", "risk_limits",
            "mode", "source", "author_name", "note", "rolled_back_to_version", "created_at",
        )


class BotOutputSerializer(serializers.ModelSerializer):
    active_config = serializers.SerializerMethodField()

    class Meta:
        model = Bot
        fields = (
            "id", "name", "enabled", "schedule_interval_seconds", "quote_asset", "initial_cash", "cash",
            "peak_equity", "created_at", "last_cycle_at", "last_candle_time", "trading_blocked_reason",
            "active_config",
        )

    @extend_schema_field(BotConfigOutputSerializer(allow_null=True))
    def get_active_config(self, bot: Bot) -> dict[str, Any] | None:
        # bot_list() prefetches the active version into ``active_configs``.
        configs = getattr(bot, "active_configs", None)
        if configs is None:
            return self._config(bot.active_config)
        return self._config(configs[0] if configs else None)

    @staticmethod
    def _config(config: BotConfig | None) -> dict[str, Any] | None:
        return BotConfigOutputSerializer(config).data if config else None


# --- input ------------------------------------------------------------------

class ConfigValuesInputSerializer(serializers.Serializer):
    symbol = serializers.RegexField(SYMBOL_PATTERN, max_length=20, help_text="e.g. BTCUSDT")
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAME_SECONDS))
    strategy = serializers.RegexField(STRATEGY_RE.pattern, max_length=64, help_text="e.g. sma_cross")
    strategy_params = JSONObjectField(required=False, default=dict)
    risk_limits = JSONObjectField(required=False, default=dict)
    mode = serializers.ChoiceField(choices=Mode.choices, required=False, default=Mode.PAPER)


class ConfigChangeInputSerializer(ConfigValuesInputSerializer):
    """A new version: the fields given replace the active version's; the rest carry over."""

    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in CONFIG_INPUT_FIELDS:
            self.fields[name].required = False
            self.fields[name].default = serializers.empty

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not any(name in attrs for name in CONFIG_INPUT_FIELDS):
            raise serializers.ValidationError(
                {"non_field_errors": [f"change at least one of: {', '.join(CONFIG_INPUT_FIELDS)}"]}
            )
        return attrs


class BotCreateInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=64)
    quote_asset = serializers.RegexField(r"^[A-Z0-9]{2,10}$", max_length=10, required=False, default="USDT")
    initial_cash = serializers.DecimalField(
        max_digits=24, decimal_places=8, min_value=Decimal("0.00000001"), required=False,
        default=Decimal("10000"), help_text="decimal string, e.g. \"10000.00\"",
    )
    enabled = serializers.BooleanField(required=False, default=True)
    schedule_interval_seconds = serializers.IntegerField(
        min_value=1, max_value=7 * 86400, required=False, allow_null=True, default=None
    )
    config = ConfigValuesInputSerializer(help_text="the first config version")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class BotUpdateInputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    schedule_interval_seconds = serializers.IntegerField(
        min_value=1, max_value=7 * 86400, required=False, allow_null=True
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not set(attrs) & set(services.BOT_UPDATABLE_FIELDS):
            raise serializers.ValidationError(
                {"non_field_errors": [f"change at least one of: {', '.join(services.BOT_UPDATABLE_FIELDS)}"]}
            )
        return attrs


class RollbackInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class DiffQuerySerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword, so the fields are named here.
        return {
            "from": serializers.IntegerField(min_value=1, max_value=2**31, help_text="older version"),
            "to": serializers.IntegerField(min_value=1, max_value=2**31, help_text="newer version"),
        }


class DiffChangeSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "path": serializers.CharField(help_text="e.g. strategy_params.fast"),
            "change": serializers.ChoiceField(choices=["added", "removed", "changed"]),
            "from": serializers.JSONField(allow_null=True),
            "to": serializers.JSONField(allow_null=True),
        }


class DiffOutputSerializer(serializers.Serializer):
    bot = serializers.IntegerField()
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    changes = DiffChangeSerializer(many=True)


# --- views ------------------------------------------------------------------

class BotListView(APIView):
    @extend_schema(tags=TAGS, responses={200: BotOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        """Every bot with its active config."""
        return Response(BotOutputSerializer(selectors.bot_list(), many=True).data)

    @extend_schema(
        tags=TAGS, request=BotCreateInputSerializer, responses={201: BotOutputSerializer, **BAD_INPUT}
    )
    def post(self, request: Request) -> Response:
        """Create a bot and its first config version (admin)."""
        serializer = BotCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bot = services.bot_create(
            actor=Actor.for_user(request.user), author=request.user, **serializer.validated_data
        )
        return Response(BotOutputSerializer(selectors.bot_get(bot_id=bot.pk)).data, status=201)


class BotDetailView(APIView):
    @extend_schema(tags=TAGS, responses={200: BotOutputSerializer, **NOT_FOUND})
    def get(self, request: Request, bot_id: int) -> Response:
        return Response(BotOutputSerializer(selectors.bot_get(bot_id=bot_id)).data)

    @extend_schema(
        tags=TAGS,
        request=BotUpdateInputSerializer,
        responses={200: BotOutputSerializer, **BAD_INPUT, **NOT_FOUND},
    )
    def patch(self, request: Request, bot_id: int) -> Response:
        """Switch a bot on or off, or change its cycle interval (admin)."""
        bot = selectors.bot_get(bot_id=bot_id)
        serializer = BotUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.bot_update(bot=bot, actor=Actor.for_user(request.user), **serializer.validated_data)
        return Response(BotOutputSerializer(selectors.bot_get(bot_id=bot_id)).data)


class BotConfigListView(APIView):
    @extend_schema(tags=TAGS, responses={200: BotConfigOutputSerializer(many=True), **NOT_FOUND})
    def get(self, request: Request, bot_id: int) -> Response:
        """Every config version of the bot, newest first."""
        bot = selectors.bot_get(bot_id=bot_id)
        return Response(BotConfigOutputSerializer(selectors.bot_config_list(bot=bot), many=True).data)

    @extend_schema(
        tags=TAGS,
        request=ConfigChangeInputSerializer,
        responses={201: BotConfigOutputSerializer, **BAD_INPUT, **NOT_FOUND},
    )
    def post(self, request: Request, bot_id: int) -> Response:
        """A new active version: the given fields over the active version's (admin)."""
        bot = selectors.bot_get(bot_id=bot_id)
        serializer = ConfigChangeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config = services.bot_config_create(
            bot=bot,
            actor=Actor.for_user(request.user),
            author=request.user,
            source=BotConfig.Source.MANUAL,
            **serializer.validated_data,
        )
        return Response(BotConfigOutputSerializer(config).data, status=201)


class BotConfigDetailView(APIView):
    @extend_schema(tags=TAGS, responses={200: BotConfigOutputSerializer, **NOT_FOUND})
    def get(self, request: Request, bot_id: int, version: int) -> Response:
        bot = selectors.bot_get(bot_id=bot_id)
        return Response(BotConfigOutputSerializer(selectors.bot_config_get(bot=bot, version=version)).data)


class BotConfigDiffView(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("from", int, required=True, description="older version"),
            OpenApiParameter("to", int, required=True, description="newer version"),
        ],
        responses={200: DiffOutputSerializer, **BAD_INPUT, **NOT_FOUND},
    )
    def get(self, request: Request, bot_id: int) -> Response:
        """What changed between two versions, leaf by leaf."""
        bot = selectors.bot_get(bot_id=bot_id)
        query = DiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        diff = selectors.bot_config_diff(
            bot=bot, from_version=query.validated_data["from"], to_version=query.validated_data["to"]
        )
        return Response(DiffOutputSerializer(diff).data)


class BotConfigRollbackView(APIView):
    @extend_schema(
        tags=TAGS,
        request=RollbackInputSerializer,
        responses={201: BotConfigOutputSerializer, **BAD_INPUT, **NOT_FOUND, 409: ErrorSerializer},
    )
    def post(self, request: Request, bot_id: int, version: int) -> Response:
        """A new active version copying version ``version`` (admin)."""
        bot = selectors.bot_get(bot_id=bot_id)
        selectors.bot_config_get(bot=bot, version=version)
        serializer = RollbackInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config = services.bot_config_rollback(
            bot=bot,
            version=version,
            actor=Actor.for_user(request.user),
            author=request.user,
            note=serializer.validated_data["note"],
        )
        return Response(BotConfigOutputSerializer(config).data, status=201)
