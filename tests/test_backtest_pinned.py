"""The backtester's result on the real BTCUSDT 1m series, pinned to the exact
Decimal, so that work on its speed provably changes nothing.

Besides the result (trades, final cash, blocks, halt, metrics, equity curve),
every call the backtester makes into the shared live code is recorded in order
and hashed: each risk decision with its reasons' codes and full messages, each
paper fill with its reason text, and each portfolio fill with the position it
leaves. A change to any decision, message, Decimal's digits or exponent shows
up as a different digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields
from decimal import Decimal
from functools import cache
from typing import Any

import pytest

import trading.backtest as backtest
from risk.limits import RiskLimits
from tests import data_path
from trading.backtest_data import generic_rules
from trading.candles import Candles, load_csv
from trading.execution.paper import PaperFillModel
from trading.market_rules import MarketRules
from trading.portfolio import Portfolio

# Binance's spot filters for BTCUSDT (the bundled exchange info).
BINANCE_BTCUSDT = MarketRules(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    step_size=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    max_qty=Decimal("9000"),
    tick_size=Decimal("0.01"),
    min_price=Decimal("0.01"),
    max_price=Decimal("1000000"),
    min_notional=Decimal("5"),
)
FIXED_1000 = {"sizing_mode": "fixed_quote", "fixed_quote": "1000"}
# No cooldown, drawdown or daily stop: every round trip trades.
OPEN = {"cooldown_after_losses": 0, "max_drawdown_pct": "1", "daily_loss_limit_pct": "1"}


@cache
def series() -> Candles:
    return load_csv(data_path("binance/BTCUSDT-1m.csv.gz"), "BTCUSDT", "1m")


def _text(value: Any) -> str:
    """A canonical text of a value: Decimals with their exact digits and exponent."""
    if isinstance(value, Decimal):
        return f"D{value}"
    if isinstance(value, tuple | list):
        return "(" + ",".join(_text(v) for v in value) + ")"
    if hasattr(value, "__dataclass_fields__"):
        # the declared value type (a private subclass that words a text on read counts as it)
        declared = next(c for c in type(value).__mro__ if "__dataclass_fields__" in vars(c))
        return (
            declared.__name__
            + "("
            + ",".join(f"{f.name}={_text(getattr(value, f.name))}" for f in fields(value))
            + ")"
        )
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


def _reason_text(reason: Any) -> str:
    return f"{reason.code}|{reason.blocking}|{reason.message}"


def run_recorded(
    monkeypatch: pytest.MonkeyPatch, candles: Candles, settings: backtest.BacktestSettings
) -> tuple[backtest.BacktestResult, dict[str, Any]]:
    digests = {name: hashlib.sha256() for name in ("decisions", "fills", "books")}
    counts = {"decisions": 0, "fills": 0, "books": 0}

    def note(name: str, text: str) -> None:
        digests[name].update(text.encode() + b"\n")
        counts[name] += 1

    evaluate = backtest.evaluate

    def recorded_evaluate(signal, portfolio, limits, market_rules, now, *, fee_bps):  # type: ignore[no-untyped-def]
        decision = evaluate(signal, portfolio, limits, market_rules, now, fee_bps=fee_bps)
        note(
            "decisions",
            " ".join(
                (
                    _text(signal),
                    _text(portfolio),
                    now.isoformat(),
                    _text(fee_bps),
                    decision.verdict,
                    repr(decision.side),
                    _text(decision.quantity),
                    repr(decision.emergency_stop),
                    repr(decision.allowed),
                    repr(decision.codes),
                    repr(decision.blocking_codes),
                    *(_reason_text(r) for r in decision.reasons),
                )
            ),
        )
        return decision

    fill_market = PaperFillModel.fill_market

    def recorded_fill_market(self, request, **market):  # type: ignore[no-untyped-def]
        result = fill_market(self, request, **market)
        note(
            "fills",
            " ".join(
                (
                    _text(request),
                    _text(market.get("price")),
                    market["at"].isoformat(),
                    result.status,
                    result.reason,
                    _text(result.fills),
                    _text(result.filled_quantity),
                    _text(result.fee_total),
                )
            ),
        )
        return result

    apply_fill = Portfolio.apply_fill

    def recorded_apply_fill(self, symbol, side, quantity, price, fee, at):  # type: ignore[no-untyped-def]
        realized = apply_fill(self, symbol, side, quantity, price, fee, at)
        held = self.positions[symbol]
        note(
            "books",
            " ".join(
                (
                    symbol,
                    side,
                    _text((quantity, price, fee)),
                    at.isoformat(),
                    _text(realized),
                    _text(self.cash),
                    _text(held),
                    _text(held.avg_entry_price),
                    _text(self.total_fees),
                    _text(self.total_realized),
                )
            ),
        )
        return realized

    with monkeypatch.context() as patch:
        patch.setattr(backtest, "evaluate", recorded_evaluate)
        patch.setattr(PaperFillModel, "fill_market", recorded_fill_market)
        patch.setattr(Portfolio, "apply_fill", recorded_apply_fill)
        result = backtest.run(candles, settings)
    trades = hashlib.sha256()
    for trade in result.trades:
        trades.update(_text(trade).encode() + b"\n")
    figures = {
        "trades": len(result.trades),
        "final_cash": str(result.final_cash),
        "blocks": dict(sorted(result.blocks.items())),
        "halted_at": result.halted_at.isoformat() if result.halted_at else None,
        "metrics": _text(result.metrics),
        "equity": (
            repr(float(result.equity[0])),
            repr(float(result.equity[-1])),
            repr(float(result.equity.min())),
            repr(float(result.equity.max())),
            hashlib.sha256(result.equity.tobytes()).hexdigest()[:16],
        ),
        "reasons": (result.reasons(result.trades[0]), result.reasons(result.trades[-1]))
        if result.trades
        else (),
        "calls": counts,
        "digests": {
            "trades": trades.hexdigest()[:16],
            **{name: digest.hexdigest()[:16] for name, digest in digests.items()},
        },
    }
    return result, figures


def settings_for(rules: MarketRules, limits: dict[str, Any], **changes: Any) -> backtest.BacktestSettings:
    return backtest.BacktestSettings(
        strategy="sma_cross",
        params={"fast": 10, "slow": 30},
        limits=RiskLimits.from_dict({**FIXED_1000, **limits}),
        rules=rules,
        **changes,
    )


CASES: dict[str, Any] = {
    "generic rules, default limits": lambda: (series(), settings_for(generic_rules("BTCUSDT"), {})),
    "generic rules, no stops": lambda: (series(), settings_for(generic_rules("BTCUSDT"), OPEN)),
    "Binance rules, default limits": lambda: (series(), settings_for(BINANCE_BTCUSDT, {})),
    "Binance rules, no stops": lambda: (series(), settings_for(BINANCE_BTCUSDT, OPEN)),
    "Binance rules, fraction sizing, slippage": lambda: (
        series(),
        settings_for(
            BINANCE_BTCUSDT,
            {
                "sizing_mode": "fraction",
                "fraction_of_equity": "0.6",
                "cooldown_after_losses": 2,
                "daily_loss_limit_pct": "0.02",
            },
            slippage_bps=Decimal("5"),
            initial_cash=Decimal("2500"),
        ),
    ),
    "Binance rules, ATR sizing, first 30,000 candles": lambda: (
        series()[:30_000],
        settings_for(
            BINANCE_BTCUSDT,
            {"atr_scaling": True, "risk_per_trade": "0.02", "max_drawdown_pct": "0.05"},
        ),
    ),
}
EXPECTED: dict[str, dict[str, Any]] = {
    "generic rules, default limits": {
        "trades": 1004,
        "final_cash": "7973.3557450936000000",
        "blocks": {
            "COOLDOWN": 943,
            "MAX_DRAWDOWN": 551,
            "POSITION_OPEN": 618,
            "SPOT_ONLY": 944,
            "SYSTEM_NOT_RUNNING": 1237,
        },
        "halted_at": "2025-07-27T23:27:00+00:00",
        "metrics": "Metrics(total_return=D-0.20266443,max_drawdown=D0.20627987,sharpe=D-33.38436672,sortino=D-43.65640644,win_rate=D0.10756972,profit_factor=D0.13165277,avg_trade=D-2.01856998,exposure=D0.43558925,trade_count=1004)",
        "equity": ("10000.0", "7973.3557450936", "7937.2012519525", "10000.0", "23d9ef4f8cbc005d"),
        "reasons": (
            (
                "SMA10 crossed above SMA30 (105,952.51 > 105,943.40)",
                "SMA10 crossed below SMA30 (105,822.71 < 105,838.52)",
            ),
            ("SMA10 crossed above SMA30 (119,431.94 > 119,414.62)", "end of backtest"),
        ),
        "calls": {"decisions": 5132, "fills": 2008, "books": 2008},
        "digests": {
            "trades": "1c75adbc67470b56",
            "decisions": "8c28507cfa4223c2",
            "fills": "7162237b943d0fa5",
            "books": "72c25b9c77017ffe",
        },
    },
    "generic rules, no stops": {
        "trades": 2565,
        "final_cash": "4839.2897925506000000",
        "blocks": {"SPOT_ONLY": 1},
        "halted_at": None,
        "metrics": "Metrics(total_return=D-0.51607102,max_drawdown=D0.51645028,sharpe=D-76.20816791,sortino=D-92.76290095,win_rate=D0.10799220,profit_factor=D0.12094000,avg_trade=D-2.01197279,exposure=D0.49755945,trade_count=2565)",
        "equity": ("10000.0", "4839.2897925506", "4835.4972407543", "10000.0", "1035d26df3a24807"),
        "reasons": (
            (
                "SMA10 crossed above SMA30 (105,952.51 > 105,943.40)",
                "SMA10 crossed below SMA30 (105,822.71 < 105,838.52)",
            ),
            (
                "SMA10 crossed above SMA30 (115,996.21 > 115,995.23)",
                "SMA10 crossed below SMA30 (116,571.54 < 116,575.92)",
            ),
        ),
        "calls": {"decisions": 5131, "fills": 5130, "books": 5130},
        "digests": {
            "trades": "567f07d99cd8d88e",
            "decisions": "3262f78a58693485",
            "fills": "51dd357b2ced9ca4",
            "books": "f652d9dbdd11868b",
        },
    },
    "Binance rules, default limits": {
        "trades": 1004,
        "final_cash": "7999.41750271",
        "blocks": {"COOLDOWN": 946, "MAX_DRAWDOWN": 618, "SPOT_ONLY": 1562, "SYSTEM_NOT_RUNNING": 1235},
        "halted_at": "2025-07-27T23:38:00+00:00",
        "metrics": "Metrics(total_return=D-0.20005825,max_drawdown=D0.20005825,sharpe=D-45.44620552,sortino=D-56.74703550,win_rate=D0.10756972,profit_factor=D0.13307615,avg_trade=D-1.99261205,exposure=D0.19558864,trade_count=1004)",
        "equity": ("10000.0", "7999.41750271", "7999.41750271", "10000.0", "f5a78395524b2b1f"),
        "reasons": (
            (
                "SMA10 crossed above SMA30 (105,952.51 > 105,943.40)",
                "SMA10 crossed below SMA30 (105,822.71 < 105,838.52)",
            ),
            (
                "SMA10 crossed above SMA30 (119,431.94 > 119,414.62)",
                "SMA10 crossed below SMA30 (119,374.51 < 119,375.21)",
            ),
        ),
        "calls": {"decisions": 5131, "fills": 2008, "books": 2008},
        "digests": {
            "trades": "15d5ffcb19f23735",
            "decisions": "d2f610221a35d771",
            "fills": "a95276266d3871c1",
            "books": "e46336528918d880",
        },
    },
    "Binance rules, no stops": {
        "trades": 2565,
        "final_cash": "4842.26244540",
        "blocks": {"SPOT_ONLY": 1},
        "halted_at": None,
        "metrics": "Metrics(total_return=D-0.51577376,max_drawdown=D0.51615271,sharpe=D-76.20969599,sortino=D-92.76524122,win_rate=D0.10799220,profit_factor=D0.12094018,avg_trade=D-2.01081386,exposure=D0.49755945,trade_count=2565)",
        "equity": ("10000.0", "4842.2624454", "4838.4729261", "10000.0", "78e357905a692493"),
        "reasons": (
            (
                "SMA10 crossed above SMA30 (105,952.51 > 105,943.40)",
                "SMA10 crossed below SMA30 (105,822.71 < 105,838.52)",
            ),
            (
                "SMA10 crossed above SMA30 (115,996.21 > 115,995.23)",
                "SMA10 crossed below SMA30 (116,571.54 < 116,575.92)",
            ),
        ),
        "calls": {"decisions": 5131, "fills": 5130, "books": 5130},
        "digests": {
            "trades": "fecd4c86a52c54f8",
            "decisions": "24166fb41baa04be",
            "fills": "c719c1e902b05dd3",
            "books": "dd1df220f95ac187",
        },
    },
    "Binance rules, fraction sizing, slippage": {
        "trades": 134,
        "final_cash": "2121.33575958",
        "blocks": {
            "COOLDOWN": 162,
            "DAILY_LOSS_LIMIT": 45,
            "MAX_DRAWDOWN": 101,
            "MIN_NOTIONAL": 31,
            "MIN_QTY": 2166,
            "POSITION_OPEN": 2247,
            "SPOT_ONLY": 185,
            "SYSTEM_NOT_RUNNING": 4495,
        },
        "halted_at": "2025-05-31T02:30:00+00:00",
        "metrics": "Metrics(total_return=D-0.15146570,max_drawdown=D0.22048523,sharpe=D-4.08107188,sortino=D-5.70441937,win_rate=D0.05970149,profit_factor=D0.28256866,avg_trade=D-2.82585254,exposure=D0.90099305,trade_count=134)",
        "equity": ("2500.0", "2121.33575958", "1948.7869254500001", "2500.0", "8a69f3a6df521204"),
        "reasons": (
            (
                "SMA10 crossed above SMA30 (105,952.51 > 105,943.40)",
                "SMA10 crossed below SMA30 (105,822.71 < 105,838.52)",
            ),
            ("SMA10 crossed above SMA30 (103,577.36 > 103,553.53)", "end of backtest"),
        ),
        "calls": {"decisions": 5132, "fills": 268, "books": 268},
        "digests": {
            "trades": "64b94bfb271a87fa",
            "decisions": "9ccbbc3e8bc1c4b1",
            "fills": "746a9f8ac95e426b",
            "books": "0bb7723dccb1b8d3",
        },
    },
    "Binance rules, ATR sizing, first 30,000 candles": {
        "trades": 53,
        "final_cash": "9495.60381548",
        "blocks": {"COOLDOWN": 37, "MAX_DRAWDOWN": 500, "SPOT_ONLY": 535, "SYSTEM_NOT_RUNNING": 999},
        "halted_at": "2025-05-23T03:47:00+00:00",
        "metrics": "Metrics(total_return=D-0.05043962,max_drawdown=D0.05043962,sharpe=D-16.08006701,sortino=D-21.16588091,win_rate=D0.15094340,profit_factor=D0.26739445,avg_trade=D-9.51690914,exposure=D0.04106667,trade_count=53)",
        "equity": ("10000.0", "9495.60381548", "9495.60381548", "10000.0", "2d9964d2534e56f1"),
        "reasons": (
            (
                "SMA10 crossed above SMA30 (105,952.51 > 105,943.40)",
                "SMA10 crossed below SMA30 (105,822.71 < 105,838.52)",
            ),
            (
                "SMA10 crossed above SMA30 (111,296.60 > 111,294.85)",
                "SMA10 crossed below SMA30 (111,260.05 < 111,261.86)",
            ),
        ),
        "calls": {"decisions": 1175, "fills": 106, "books": 106},
        "digests": {
            "trades": "5951bca14b5f9d03",
            "decisions": "e5290556ea12d5f7",
            "fills": "e37cd8d4fe1e14f0",
            "books": "86a2514eed5a792a",
        },
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_backtest_on_the_real_series_is_pinned(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    candles, settings = CASES[case]()
    _, figures = run_recorded(monkeypatch, candles, settings)
    assert figures == EXPECTED[case]
