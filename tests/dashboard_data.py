"""A small but complete trading history for the dashboard tests: bots with
config versions, candles, cycles, orders, fills, positions, snapshots, events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

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


def sample_evidence(*, start: datetime, better: bool = True, points: int = 100) -> dict[str, Any]:
    """Evidence shaped as ``approvals.evidence.build`` writes it: the window, and
    metrics, blocks and a short equity curve of the backtest before and after."""

    def side(total_return: str, drawdown: str, trades: int, slope: float) -> dict[str, Any]:
        step_ms = 3_600_000
        t0 = int(start.timestamp() * 1000)
        curve = [[t0 + i * step_ms, round(10000 + slope * i + 15 * ((i * 7) % 5), 2)] for i in range(points)]
        return {
            "metrics": {
                "total_return": total_return, "max_drawdown": drawdown, "sharpe": "1.10000000",
                "sortino": None, "win_rate": "0.50000000", "profit_factor": "1.30000000",
                "avg_trade": "12.50000000", "exposure": "0.40000000", "trade_count": trades,
                "final_equity": str(10000 + slope * (points - 1)), "pnl": str(slope * (points - 1)),
            },
            "blocks": {"COOLDOWN": 2},
            "trade_count": trades,
            "equity_curve": curve,
            "halted_at": None,
        }

    before = side("0.01000000", "0.05000000", 8, 1.0)
    after = side("0.03000000" if better else "-0.02000000", "0.04000000", 10, 3.0 if better else -2.0)
    return {
        "window": {"symbol": "BTCUSDT", "timeframe": "1h", "days": 30, "candles": points,
                   "start": start.isoformat(), "end": (start + timedelta(hours=points - 1)).isoformat(), "note": ""},
        "initial_cash": "10000", "fee_bps": "10", "slippage_bps": "0",
        "available": True, "before": before, "after": after,
        "difference": {"total_return": "0.02", "max_drawdown": "-0.01", "sharpe": "0", "trade_count": 2},
    }


def add_approvals_and_backtests(history: History, *, decided_per_bot: int = 2, backtests: int = 2) -> None:
    """Per bot: one pending proposal with evidence and ``decided_per_bot`` decided
    ones (through the approvals services); and finished and running backtests."""
    from approvals import services
    from audit.actors import Role
    from trading.models import Backtest

    advisor = Actor.advisor("rules")
    operator = Actor("operator", Role.OPERATOR)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for bot in history.bots:
        for i in range(decided_per_bot):
            decided = services.propose(
                bot=bot, kind="risk_limits", change={"risk_limits": {"max_drawdown_pct": f"0.1{i}"}},
                proposer=advisor, rationale=f"tighter drawdown {i}", evidence={"available": False, "reason": "no candles"},
            )
            services.reject(approval_id=decided.pk, actor=operator, note=f"not now {i}")
        services.propose(
            bot=bot, kind="strategy_params", change={"strategy_params": {"fast": 8}}, proposer=advisor,
            rationale="Faster entries <script>alert('x')</script>\nsecond line", evidence=sample_evidence(start=start),
            ttl_minutes=90,
        )
    for _ in range(backtests):
        Backtest.objects.create(
            requested_by="operator", symbol="BTCUSDT", timeframe="1h", strategy="sma_cross",
            strategy_params={"fast": 10, "slow": 30}, status=Backtest.Status.DONE, progress=100, candle_count=100,
            finished_at=timezone.now(),
            metrics=sample_evidence(start=start)["after"]["metrics"], blocks={"COOLDOWN": 2, "MAX_POSITION": 1},
            trades=[{"entry_time": "2024-01-01T05:00:00+00:00", "exit_time": "2024-01-01T09:00:00+00:00",
                     "entry_price": "42000.5", "exit_price": "42500", "quantity": "0.02", "fees": "1.7",
                     "pnl": "8.29", "entry_reason": "SMA10 crossed above SMA30", "exit_reason": "SMA10 crossed below SMA30"}],
            equity_curve=sample_evidence(start=start)["after"]["equity_curve"],
        )
    Backtest.objects.create(
        requested_by="operator", symbol="BTCUSDT", timeframe="1h", strategy="rsi_reversion",
        strategy_params={"period": 14, "oversold": 30.0, "overbought": 70.0}, status=Backtest.Status.RUNNING, progress=40,
    )
