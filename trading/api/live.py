"""The admin-only manual live order: ``POST /api/orders/live``.

Thin: parse, call ``trading.live_orders.live_order_place`` (every live gate,
the same store → claim → send → apply path as a cycle's live order), render.
A closed gate answers 409 (403 for a role, 400 for the exchange filters) with
the gate's name; bad input is a 400 with field errors and writes nothing.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from trading.adapters.binance import CLIENT_ORDER_ID
from trading.api.records import OrderOutputSerializer
from trading.live_orders import live_order_place
from trading.models import Bot, Order
from tradingsite.api_common import SYMBOL_PATTERN, ErrorSerializer

MONEY = {"max_digits": 24, "decimal_places": 8}


class LiveOrderInputSerializer(serializers.Serializer):
    bot = serializers.CharField(max_length=64, help_text="the bot's id or name")
    symbol = serializers.RegexField(SYMBOL_PATTERN, max_length=20, help_text="must be the bot's symbol")
    side = serializers.ChoiceField(choices=["BUY", "SELL"])
    quantity = serializers.DecimalField(**MONEY, min_value=0, help_text="base asset; rounded down to the step")
    price = serializers.DecimalField(
        **MONEY, min_value=0, required=False, allow_null=True, default=None,
        help_text="limit price (a GTC LIMIT order); left out: a MARKET order",
    )
    client_order_id = serializers.RegexField(
        CLIENT_ORDER_ID.pattern, required=False, default="",
        help_text="idempotency key: the same key again returns the same order and sends nothing",
    )

    def validate_quantity(self, value: Any) -> Any:
        if value <= 0:
            raise serializers.ValidationError("must be more than 0")
        return value

    def validate_price(self, value: Any) -> Any:
        if value is not None and value <= 0:
            raise serializers.ValidationError("must be more than 0")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        key = attrs["bot"]
        bot = Bot.objects.filter(pk=int(key)).first() if key.isdigit() else Bot.objects.filter(name=key).first()
        if bot is None:
            raise serializers.ValidationError({"bot": [f"no bot {key!r}"]})
        config = bot.active_config
        if config is None or config.symbol != attrs["symbol"]:
            trades = config.symbol if config else "nothing yet"
            raise serializers.ValidationError({"symbol": [f"{bot.name} trades {trades}"]})
        attrs["bot"] = bot
        return attrs


class LiveOrderView(APIView):
    """Place a manual live order on Binance for a bot (admin only, every live gate)."""

    @extend_schema(
        tags=["orders"],
        request=LiveOrderInputSerializer,
        responses={
            201: OrderOutputSerializer,
            200: OpenApiResponse(OrderOutputSerializer, description="the same client_order_id again"),
            400: OpenApiResponse(description="field errors, or the exchange filters; nothing was sent"),
            403: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="a live gate is closed; its name is in `gate`"),
            503: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = LiveOrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = data["client_order_id"]
        replay = bool(key) and Order.objects.filter(client_order_id=key, bot=data["bot"]).exists()
        order = live_order_place(
            bot=data["bot"], side=data["side"], quantity=data["quantity"], price=data["price"],
            actor=Actor.for_user(request.user), client_order_id=key,
        )
        return Response(OrderOutputSerializer(order).data, status=status.HTTP_200_OK if replay else status.HTTP_201_CREATED)
