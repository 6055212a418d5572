"""The backtester and live cycles are one code path: the same real candles
replayed through ``run_cycle`` (database, replay source, simulated clock) and
through the backtester give identical trades."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.actors import Actor
from risk.limits import RiskLimits
from tests.factories import BotConfigFactory
from trading import cycle
from trading.backtest import BacktestSettings, run
from trading.market_data import ReplaySource
from trading.models import Bot, Fill, SystemState
from trading.timeframes import from_ms

# 15m candles from the first of the bundled ETHUSDT data: 230 candles span
# three UTC days, so day-start equity is exercised too.
SYMBOL, TIMEFRAME, COUNT = "ETHUSDT", "15m", 230


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("strategy", "params", "limits"),
    [
        ("sma_cross", {"fast": 5, "slow": 20}, {}),
        ("sma_cross", {"fast": 3, "slow": 8}, {"sizing_mode": "fixed_quote", "fixed_quote": "1000",
                                               "cooldown_after_losses": 2, "cooldown_candles": 6}),
        ("donchian_breakout", {"entry_period": 10, "exit_period": 5}, {"fraction_of_equity": "0.5",
                                                                       "max_position_pct_equity": "0.6"}),
    ],
)
def test_replayed_cycles_and_the_backtest_trade_identically(settings, strategy, params, limits) -> None:  # type: ignore[no-untyped-def]
    settings.MARKET_DATA = "replay"
    settings.PAPER_FEE_BPS = Decimal("10")
    settings.PAPER_SLIPPAGE_BPS = Decimal("5")
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
    source = ReplaySource()
    candles = source.series(SYMBOL, TIMEFRAME)[:COUNT]
    bot = BotConfigFactory(
        symbol=SYMBOL, timeframe=TIMEFRAME, strategy=strategy, strategy_params=params, risk_limits=limits,
    ).bot

    # live: one cycle the moment each candle closes (the last one has no next open)
    for i in range(COUNT - 1):
        outcome = cycle.run_cycle(bot, from_ms(int(candles.open_time[i + 1])), Actor.scheduler())
        assert outcome.status == "done", outcome.message
    live = [
        (f.side, f.filled_at, f.quantity, f.price, f.fee, f.realized_pnl)
        for f in Fill.objects.filter(bot=bot).order_by("filled_at", "id")
    ]

    result = run(candles, BacktestSettings(
        strategy=strategy, params=params, limits=RiskLimits.from_dict(limits),
        rules=source.market_rules(SYMBOL), initial_cash=Decimal("10000"),
        fee_bps=Decimal("10"), slippage_bps=Decimal("5"),
    ))
    backtest = []
    for trade in result.trades:
        backtest.append(("BUY", trade.entry_time, trade.quantity, trade.entry_price))
        if trade.exit_index >= 0:  # the closing at the end is the backtest's, not a live order
            backtest.append(("SELL", trade.exit_time, trade.quantity, trade.exit_price))

    assert len(live) >= 4, "the window should hold a few trades"
    assert [row[:4] for row in live] == backtest
    bot.refresh_from_db()
    open_trade = result.trades[-1] if result.trades and result.trades[-1].exit_index < 0 else None
    realized_live = sum((row[5] for row in live if row[0] == "SELL"), Decimal(0))
    realized_bt = sum((t.pnl for t in result.trades if t.exit_index >= 0), Decimal(0))
    assert realized_live == realized_bt
    if open_trade is None:
        assert bot.cash == result.final_cash
    assert dict(result.blocks) == _live_blocks(bot)


def _live_blocks(bot: Bot) -> dict[str, int]:
    from collections import Counter

    from trading.models import CycleRun

    counts: Counter[str] = Counter()
    for reasons in CycleRun.objects.filter(bot=bot, decision="BLOCK").values_list("decision_reasons", flat=True):
        counts.update(r["code"] for r in reasons if r.get("blocking", True))
    return dict(counts)
