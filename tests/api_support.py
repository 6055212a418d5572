"""Helpers for the API tests: clients signed in with real tokens, and a small world."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.actors import Actor
from audit.models import Event
from audit.services import record
from tests.factories import (
    ApprovalFactory,
    BotConfigFactory,
    BotFactory,
    EquitySnapshotFactory,
    FillFactory,
    MetricsSnapshotFactory,
    OrderFactory,
    PositionFactory,
)
from trading.models import Backtest, Bot, Candle, SystemState

# Cached candles a backtest can run on: another market than the world's bot
# (BTCUSDT 1m), whose cycle therefore finds no data and skips.
BACKTEST_MARKET = {"symbol": "ETHUSDT", "timeframe": "15m"}


def token_client(user: User | None) -> APIClient:
    """An API client that sends a real knox token of ``user`` (None: anonymous)."""
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def set_state(state: str) -> None:
    SystemState.objects.filter(id=1).update(state=state)


@dataclass
class World:
    bot: Bot
    event: Event
    approval_id: int
    backtest_id: int

    @property
    def url_kwargs(self) -> dict[str, Any]:
        return {
            "bot_id": self.bot.pk,
            "version": 1,
            "seq": self.event.seq,
            "approval_id": self.approval_id,
            "backtest_id": self.backtest_id,
        }


def cache_candles(symbol: str, timeframe: str, count: int, start: datetime | None = None) -> None:
    start = start or datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(minutes=15) if timeframe == "15m" else timedelta(minutes=1)
    Candle.objects.bulk_create(
        Candle(
            symbol=symbol, timeframe=timeframe, open_time=start + i * step,
            close_time=start + (i + 1) * step - timedelta(milliseconds=1),
            open=Decimal("2000") + i, high=Decimal("2010") + i, low=Decimal("1990") + i,
            close=Decimal("2005") + i, volume=Decimal("3"),
        )
        for i in range(count)
    )


def make_world() -> World:
    """A bot with config v1 and v2 (active), one of each record, an event, a
    pending approval, a few cached candles and a finished backtest."""
    bot = BotFactory(name="alpha")
    BotConfigFactory(bot=bot, version=1, is_active=False)
    v2 = BotConfigFactory(bot=bot, version=2, is_active=True, strategy_params={"fast": 12, "slow": 30})
    order = OrderFactory(bot=bot, config=v2)
    FillFactory(order=order)
    PositionFactory(bot=bot)
    EquitySnapshotFactory(bot=bot)
    MetricsSnapshotFactory(bot=bot)
    approval = ApprovalFactory(base_config=v2)
    cache_candles(BACKTEST_MARKET["symbol"], BACKTEST_MARKET["timeframe"], 50)
    backtest = Backtest.objects.create(
        requested_by="operator", strategy="sma_cross", strategy_params={"fast": 10, "slow": 30},
        status=Backtest.Status.DONE, progress=100, candle_count=50, metrics={"total_return": "0.01"},
        equity_curve=[[1704067200000, 10000.0], [1704070800000, 10100.0]], **BACKTEST_MARKET,
    )
    event = record("test.world.made", Actor.system(), "world made", bot=bot)
    return World(bot=bot, event=event, approval_id=approval.pk, backtest_id=backtest.pk)
