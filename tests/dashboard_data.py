"""A small but complete trading history for the dashboard tests: bots with
config versions, candles, cycles, orders, fills, positions, snapshots, events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from audit.actors import Actor
from audit.services import record
from tests.factories import BotFactory, OrderFactory
from trading.models import (
    Bot,
    BotConfig,
    Candle,
    CycleRun,
    EquitySnapshot,
    Fill,
    MetricsSnapshot,
    Order,
    Position,
)
from trading.services import bot_config_create


@dataclass
class History:
    bots: list[Bot] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)


def minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def build_history(
    *, bots: int = 3, orders_per_bot: int = 4, candles: int = 60, events_per_bot: int = 3, now: datetime | None = None
) -> History:
    now = minute(now or timezone.now())
    start = now - timedelta(minutes=candles)
    system = Actor.system()
    history = History()
    for b in range(bots):
        bot = BotFactory(name=f"bot-{chr(ord('a') + b)}")
        history.bots.append(bot)
        symbol = "BTCUSDT" if b % 2 == 0 else "ETHUSDT"
        bot_config_create(
            bot=bot, actor=system, source=BotConfig.Source.SEED,
            symbol=symbol, timeframe="1m", strategy="sma_cross", strategy_params={"fast": 10, "slow": 30},
            risk_limits={"max_position_pct_equity": "0.5"},
        )
        bot_config_create(
            bot=bot, actor=system, source=BotConfig.Source.MANUAL, note="faster signal",
            strategy_params={"fast": 5, "slow": 30},
        )
        for i in range(3):
            CycleRun.objects.create(
                bot=bot, started_at=now - timedelta(minutes=3 - i), actor="scheduler",
                candle_time=now - timedelta(minutes=4 - i), status=CycleRun.Status.DONE,
                signal="BUY" if i == 2 else "HOLD", signal_reason=f"fast above slow ({i})",
                decision="ALLOW" if i == 2 else "", decision_quantity=Decimal("0.01") if i == 2 else None,
                decision_reasons=["within daily loss limit", "position below maximum"] if i == 2 else [],
            )
        for i in range(10):
            equity = Decimal("10000") + Decimal(i * 7 + b)
            EquitySnapshot.objects.create(
                bot=bot, taken_at=now - timedelta(minutes=10 - i), cash=equity, positions_value=Decimal("0"),
                equity=equity, peak_equity=equity,
            )
        MetricsSnapshot.objects.create(
            bot=bot, taken_at=now, total_return=Decimal("0.0125"), max_drawdown=Decimal("0.031"),
            sharpe=Decimal("1.4"), win_rate=Decimal("0.55"), trade_count=12,
        )
        Position.objects.create(
            bot=bot, symbol=symbol, quantity=Decimal("0.01000000"), avg_entry_price=Decimal("60000"),
            last_price=Decimal("60500"),
        )
        for i in range(orders_per_bot):
            side = "BUY" if i % 2 == 0 else "SELL"
            created = now - timedelta(minutes=30 - i * 5, seconds=10)
            order = OrderFactory(
                bot=bot, symbol=symbol, side=side, status=Order.Status.FILLED, created_at=created,
                quantity=Decimal("0.00000001") if i == 0 else Decimal("0.015"),
                filled_quantity=Decimal("0.015"), avg_fill_price=Decimal("60123.45678901"),
                client_order_id=f"{bot.name}-{i:04d}", reason="=cmd|' /C calc'!A0" if i == 1 else "signal",
            )
            history.orders.append(order)
            history.fills.append(
                Fill.objects.create(
                    order=order, bot=bot, symbol=symbol, side=side, price=Decimal("60123.45678901"),
                    quantity=Decimal("0.015"), quote_quantity=Decimal("901.85185184"), fee=Decimal("0.00001500"),
                    fee_asset="BNB", trade_id=f"t-{bot.name}-{i}", filled_at=created + timedelta(seconds=1),
                )
            )
        for i in range(events_per_bot):
            record("trading.cycle.done", "scheduler", f"cycle {i} of {bot.name}", inputs={"i": i}, bot=bot)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        Candle.objects.bulk_create(
            Candle(
                symbol=symbol, timeframe="1m", open_time=start + timedelta(minutes=i),
                close_time=start + timedelta(minutes=i + 1) - timedelta(milliseconds=1),
                open=Decimal("60000") + i, high=Decimal("60010") + i, low=Decimal("59990") + i,
                close=Decimal("60005") + i, volume=Decimal("12.5"),
            )
            for i in range(candles)
        )
    return history
