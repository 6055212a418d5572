"""Every proposal carries before/after backtests on the bot's recent real candles."""

from __future__ import annotations

from decimal import Decimal

import pytest

from approvals import evidence, services
from audit.actors import Actor, Role
from risk.limits import RiskLimits
from tests.advisor_data import LAST_OPEN, SYMBOL, TIMEFRAME, cache_bundled, eth_bot
from trading.backtest import BacktestSettings, run
from trading.market_data import ReplaySource
from trading.timeframes import from_ms

pytestmark = pytest.mark.django_db
OPERATOR = Actor("operator", Role.OPERATOR)


@pytest.fixture
def costs(settings):  # type: ignore[no-untyped-def]
    settings.PAPER_FEE_BPS = Decimal("10")
    settings.PAPER_SLIPPAGE_BPS = Decimal("2")
    settings.ADVISOR_EVIDENCE_DAYS = 30


def direct_backtest(params: dict, limits: dict, count: int):  # type: ignore[no-untyped-def,type-arg]
    """The same window replayed straight from the bundled file, no cache in between."""
    source = ReplaySource()
    candles = source.series(SYMBOL, TIMEFRAME)
    candles = candles[len(candles) - count:]
    return run(candles, BacktestSettings(
        strategy="sma_cross", params=params, limits=RiskLimits.from_dict(limits), rules=source.market_rules(SYMBOL),
        initial_cash=Decimal("10000"), fee_bps=Decimal("10"), slippage_bps=Decimal("2"),
    ))


def test_a_persons_proposal_carries_before_and_after_backtests_on_the_last_30_days(costs) -> None:  # type: ignore[no-untyped-def]
    cache_bundled()
    bot = eth_bot(params={"fast": 10, "slow": 30})
    approval = services.propose(bot=bot, kind="strategy_params", change={"strategy_params": {"fast": 20, "slow": 60}},
                                proposer=OPERATOR, rationale="slower")
    found = approval.evidence
    assert found["available"] is True
    window = found["window"]
    assert window["candles"] == 30 * 96 and window["days"] == 30
    assert window["end"] == LAST_OPEN.isoformat()
    assert "cache ends" in window["note"]  # the bundled data is older than today: said so
    assert (found["fee_bps"], found["slippage_bps"]) == ("10", "2")
    assert Decimal(found["initial_cash"]) == Decimal("10000")

    before = direct_backtest({"fast": 10, "slow": 30}, {}, 30 * 96)
    after = direct_backtest({"fast": 20, "slow": 60}, {}, 30 * 96)
    assert from_ms(int(before.open_time[0])).isoformat() == window["start"]
    for side, result in (("before", before), ("after", after)):
        stored = found[side]
        assert stored["trade_count"] == len(result.trades) > 5
        assert Decimal(stored["metrics"]["total_return"]) == result.metrics.total_return
        assert Decimal(stored["metrics"]["max_drawdown"]) == result.metrics.max_drawdown
        assert stored["metrics"]["final_equity"] == str(result.final_cash)
        assert stored["blocks"] == dict(result.blocks)
        curve = stored["equity_curve"]
        assert len(curve) == evidence.CURVE_POINTS
        assert curve[0][0] == int(result.open_time[0]) and curve[-1][0] == int(result.open_time[-1])
    assert found["before"]["trade_count"] != found["after"]["trade_count"]
    assert Decimal(found["difference"]["total_return"]) == after.metrics.total_return - before.metrics.total_return
    assert found["difference"]["trade_count"] == len(after.trades) - len(before.trades)


def test_the_window_follows_the_setting_and_risk_changes_are_backtested_too(costs, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ADVISOR_EVIDENCE_DAYS = 7
    cache_bundled()
    bot = eth_bot()
    approval = services.propose(bot=bot, kind="risk_limits", change={"risk_limits": {"fraction_of_equity": "0.05"}},
                                proposer=OPERATOR)
    found = approval.evidence
    assert found["window"]["candles"] == 7 * 96
    before = direct_backtest({"fast": 10, "slow": 30}, {}, 7 * 96)
    after = direct_backtest({"fast": 10, "slow": 30}, {"fraction_of_equity": "0.05"}, 7 * 96)
    assert found["before"]["metrics"]["total_return"] == str(before.metrics.total_return)
    assert found["after"]["metrics"]["total_return"] == str(after.metrics.total_return)
    # same signals, half the size: the same trades, a smaller swing
    assert found["before"]["trade_count"] == found["after"]["trade_count"]
    assert abs(Decimal(found["after"]["metrics"]["total_return"])) < abs(
        Decimal(found["before"]["metrics"]["total_return"]))


def test_the_window_read_from_the_cache_holds_exactly_the_bundled_values(costs) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    cache_bundled()
    window = evidence.window_for(symbol=SYMBOL, timeframe=TIMEFRAME)
    bundled = ReplaySource().series(SYMBOL, TIMEFRAME)
    bundled = bundled[len(bundled) - 30 * 96:]
    assert window.candles is not None
    for column in ("open_time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(window.candles, column), getattr(bundled, column)), column


def test_without_cached_candles_the_evidence_says_why_and_the_proposal_still_reaches_a_human(costs) -> None:  # type: ignore[no-untyped-def]
    bot = eth_bot()
    approval = services.propose(bot=bot, kind="strategy_params", change={"strategy_params": {"fast": 12}},
                                proposer=OPERATOR)
    assert approval.status == "PENDING"
    assert approval.evidence["available"] is False
    assert approval.evidence["reason"].startswith("no ETHUSDT 15m candles in the cache")
    assert "before" not in approval.evidence


def test_evidence_given_by_the_caller_is_stored_as_given(costs) -> None:  # type: ignore[no-untyped-def]
    cache_bundled()
    bot = eth_bot()
    approval = services.propose(bot=bot, kind="strategy_params", change={"strategy_params": {"fast": 12}},
                                proposer=OPERATOR, evidence={"source": "attached by hand"})
    assert approval.evidence == {"source": "attached by hand"}
