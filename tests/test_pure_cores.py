"""The pure cores import and run without Django, so the backtester can use them anywhere."""

from __future__ import annotations

import os
import subprocess
import sys

from tests import REPO_ROOT

PURE_MODULES = (
    "trading.strategies",
    "trading.strategies.registry",
    "trading.execution.paper",
    "trading.portfolio",
    "trading.metrics",
    "risk.limits",
    "risk.rules",
    "risk.engine",
)


def test_pure_cores_import_without_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    script = (
        "import sys\n"
        f"for name in {PURE_MODULES!r}: __import__(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_cores_compose_into_a_backtest_that_keeps_its_books_exact():
    """Strategy → risk engine → paper fills → portfolio → metrics over real
    candles, as the backtester will chain them; the books balance at every fill."""
    from datetime import timedelta
    from decimal import Decimal

    from risk.engine import evaluate
    from risk.limits import RiskLimits
    from risk.values import PortfolioView, RiskSignal
    from tests import data_path
    from trading.candles import load_csv
    from trading.execution.paper import OrderRequest, PaperFillModel
    from trading.market_rules import MarketRules
    from trading.metrics import compute
    from trading.portfolio import Portfolio
    from trading.strategies import Action, get_strategy
    from trading.timeframes import from_ms

    candles = load_csv(data_path("binance/BTCUSDT-15m.csv"), "BTCUSDT", "15m")
    market = MarketRules(
        "BTCUSDT", "BTC", "USDT", Decimal("0.00001"), Decimal("0.00001"), Decimal("9000"),
        Decimal("0.01"), Decimal("0.01"), Decimal("1000000"), Decimal("5"),
    )
    series = get_strategy("sma_cross").signals(candles, {})
    limits = RiskLimits(cooldown_after_losses=0)
    model = PaperFillModel(fee_bps=Decimal("10"), slippage_bps=Decimal("5"))
    initial = Decimal("10000")
    book = Portfolio(cash=initial)
    peak = initial
    pnls, entry_cost, allowed, curve, in_market = [], Decimal("0"), 0, [], 0
    for i in range(len(candles) - 1):
        mark = {"BTCUSDT": candles.row(i)["close"]}
        equity = book.equity(mark)
        peak = max(peak, equity)
        curve.append(equity)
        in_market += book.position("BTCUSDT").quantity > 0
        action = Action(int(series.actions[i]))
        if action == Action.HOLD:
            continue
        nxt = candles.row(i + 1)
        held = book.position("BTCUSDT")
        view = PortfolioView(
            cash=book.cash, position_qty=held.quantity, avg_entry_price=held.avg_entry_price,
            equity=equity, peak_equity=peak, day_start_equity=equity, other_exposure=Decimal("0"),
            consecutive_losses=0, last_loss_candle_time=None,
        )
        opened = from_ms(int(candles.open_time[i]))
        signal = RiskSignal(action, nxt["open"], opened, 900, "RUNNING", False, None)
        decision = evaluate(signal, view, limits, market, opened + timedelta(minutes=15), fee_bps=Decimal("15"))
        if not decision.allowed:
            continue
        allowed += 1
        request = OrderRequest(f"bt-{i}", "BTCUSDT", decision.side, "MARKET", decision.quantity)
        result = model.fill_market(request, price=nxt["open"], at=from_ms(int(candles.open_time[i + 1])), rules=market)
        assert result.status == "FILLED", result.reason
        for fill in result.fills:
            realized = book.apply_fill("BTCUSDT", decision.side, fill.quantity, fill.price, fill.fee, fill.filled_at)
            if decision.side == "BUY":
                entry_cost = fill.quote_quantity + fill.fee
            else:
                pnls.append(realized)
                assert realized == fill.quote_quantity - fill.fee - entry_cost
        marks = {"BTCUSDT": nxt["open"]}
        assert book.equity(marks) == initial + book.total_realized + book.unrealized_pnl(marks)
        assert book.cash >= 0
    assert allowed > 100 and len(pnls) > 50
    metrics = compute(curve, pnls, 900, bars_in_market=in_market)
    assert metrics.trade_count == len(pnls)
    assert metrics.sharpe is not None
    assert 0 < metrics.exposure < 1
