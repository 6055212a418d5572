"""Helpers of the advisor tests: real bundled candles in the cache, bots with history."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from audit.actors import Actor, Role
from tests.factories import BotConfigFactory
from trading.market_data import candles_import, default_data_dir
from trading.models import Bot, BotConfig, CycleRun, EquitySnapshot, MetricsSnapshot

SYMBOL, TIMEFRAME = "ETHUSDT", "15m"
# The bundled ETHUSDT 15m file ends with the candle opened at 2025-08-18 18:00 UTC.
LAST_OPEN = datetime.fromisoformat("2025-08-18T18:00:00+00:00")


def cache_bundled(symbol: str = SYMBOL, timeframe: str = TIMEFRAME) -> None:
    """Import the bundled real candles file into the candle cache."""
    path = default_data_dir() / "binance" / f"{symbol}-{timeframe}.csv.gz"
    candles_import(path=path, symbol=symbol, timeframe=timeframe, actor=Actor("tests", Role.ADMIN))


def eth_bot(strategy: str = "sma_cross", params: dict | None = None, limits: dict | None = None) -> Bot:  # type: ignore[type-arg]
    return BotConfigFactory(
        symbol=SYMBOL, timeframe=TIMEFRAME, strategy=strategy,
        strategy_params=params if params is not None else {"fast": 10, "slow": 30},
        risk_limits=limits or {},
    ).bot


def equity_history(bot: Bot, equities: list[str], *, start: datetime, step: timedelta = timedelta(minutes=15)) -> None:
    """Cycles under the active config and their equity and metrics snapshots, as a
    cycle writes them (drawdown from the running all-time peak)."""
    config = BotConfig.objects.get(bot=bot, is_active=True)
    peak = bot.peak_equity
    for i, text in enumerate(equities):
        at = start + i * step
        equity = Decimal(text)
        peak = max(peak, equity)
        CycleRun.objects.create(bot=bot, config=config, started_at=at, actor="scheduler", status="done",
                                signal="HOLD", decision="NONE")
        EquitySnapshot.objects.create(
            bot=bot, taken_at=at, cash=equity, positions_value=Decimal(0), equity=equity, peak_equity=peak,
            drawdown=((peak - equity) / peak).quantize(Decimal("0.00000001")),
        )
        MetricsSnapshot.objects.create(bot=bot, taken_at=at, total_return=equity / bot.initial_cash - 1,
                                       max_drawdown=(peak - equity) / peak, trade_count=i // 2)
    Bot.objects.filter(pk=bot.pk).update(peak_equity=peak)
