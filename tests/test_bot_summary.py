"""The bot summary: what a cycle keeps instead of re-reading the history gives
the very values the history gives, and so do the metrics and risk inputs built
on it."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.db.models import FloatField, Max
from django.db.models.functions import Cast

from audit.actors import Actor, Role
from tests.factories import BotConfigFactory, FillFactory, OrderFactory
from trading import cycle, summary
from trading.lease import Lease
from trading.market_data import ReplaySource, refresh
from trading.metrics import TradeTally
from trading.metrics import compute as compute_metrics
from trading.models import Bot, BotSummary, EquitySnapshot, Fill, MetricsSnapshot
from trading.services import bot_config_create
from trading.timeframes import from_ms, seconds

# 05:30 ahead of UTC: its day begins at 18:30 UTC the day before
KOLKATA = ZoneInfo("Asia/Kolkata")
METRICS = ("total_return", "max_drawdown", "sharpe", "sortino", "win_rate", "profit_factor", "avg_trade",
           "exposure", "trade_count")
# Each statement of a paper HOLD cycle with its candles cached, on a series
# younger than market_data.GAP_LOOKBACK candles (one more lookup than an older
# one); the test's transaction turns the cycle's own into a savepoint. It was
# 29 before the bot summary.
HOLD_CYCLE_QUERIES = 19
SCHEDULER = Actor.scheduler()
ADMIN = Actor("admin", Role.ADMIN)
FIELDS = (
    "last_taken_at", "last_equity", "day_start_at", "day_start_equity", "max_drawdown", "trades",
    "last_sell_at", "losing_streak", "sells_since_loss", "last_loss_candle_time",
)


@pytest.fixture
def replay(replay, settings):  # type: ignore[no-untyped-def]
    # with slippage, so that fill prices are not the candles' opens
    settings.PAPER_SLIPPAGE_BPS = Decimal("5")
    return replay


def closes(replay: ReplaySource, timeframe: str, first: int, count: int) -> list:  # type: ignore[type-arg]
    series = replay.series("BTCUSDT", timeframe)
    return [from_ms(int(series.open_time[i + 1])) for i in range(first, first + count)]


def stored(bot: Bot) -> BotSummary:
    return BotSummary.objects.get(bot=bot)


def assert_as_history(bot: Bot) -> None:
    """The stored summary is field for field what a rebuild from the history gives."""
    kept, rebuilt = stored(bot), summary.summary_rebuild(bot)
    for field in FIELDS:
        assert getattr(kept, field) == getattr(rebuilt, field), field
    kept_curve, kept_held = summary.equity_window(kept)
    curve, held = summary.equity_window(rebuilt)
    assert kept_curve.tobytes() == curve.tobytes() and kept_held == held


def metrics_from_history(bot: Bot, timeframe: str) -> dict[str, object]:
    """The metrics as the cycle computed them before it kept a summary."""
    curve = list(
        EquitySnapshot.objects.filter(bot=bot).order_by("-taken_at", "-id")
        .annotate(e=Cast("equity", FloatField()), v=Cast("positions_value", FloatField()))
        .values_list("e", "v")[:summary.METRICS_WINDOW]
    )
    curve.reverse()
    equity = np.array([float(bot.initial_cash)] + [e for e, _ in curve], dtype=np.float64)
    pnls = list(Fill.objects.filter(bot=bot, side="SELL", realized_pnl__isnull=False)
                .order_by("filled_at", "id").values_list("realized_pnl", flat=True))
    m = compute_metrics(equity, pnls, seconds(timeframe), sum(1 for _, v in curve if v > 0))
    deepest = EquitySnapshot.objects.filter(bot=bot).aggregate(d=Max("drawdown"))["d"] or Decimal("0")
    return {"total_return": m.total_return, "max_drawdown": max(m.max_drawdown, deepest), "sharpe": m.sharpe,
            "sortino": m.sortino, "win_rate": m.win_rate, "profit_factor": m.profit_factor,
            "avg_trade": m.avg_trade, "exposure": m.exposure, "trade_count": m.trade_count}


def latest_metrics(bot: Bot) -> dict[str, object]:
    latest = MetricsSnapshot.objects.filter(bot=bot).order_by("-taken_at", "-id").first()
    assert latest is not None
    return {key: getattr(latest, key) for key in METRICS}


def day_start_from_history(bot: Bot, now) -> Decimal:  # type: ignore[no-untyped-def]
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    found = (EquitySnapshot.objects.filter(bot=bot, taken_at__lt=day_start).order_by("-taken_at", "-id")
             .values_list("equity", flat=True).first())
    return found if found is not None else bot.initial_cash


def streak_from_history(bot: Bot) -> tuple[int, object]:
    recent = list(Fill.objects.filter(bot=bot, side="SELL", realized_pnl__isnull=False)
                  .order_by("-filled_at", "-id").values_list("realized_pnl", "order__candle_time")
                  [:summary.LOSS_LOOKBACK])
    losses = 0
    for pnl, _ in recent:
        if pnl >= 0:
            break
        losses += 1
    return losses, next((when for pnl, when in recent if pnl < 0), None)


@pytest.mark.django_db
@pytest.mark.parametrize("cached", [False, True], ids=["fetched-each-cycle", "cached"])
def test_the_summary_and_metrics_stay_what_the_history_gives(replay, running, monkeypatch, cached) -> None:  # type: ignore[no-untyped-def]
    # A short window and lookback, so that both roll over within the run.
    monkeypatch.setattr(summary, "METRICS_WINDOW", 40)
    monkeypatch.setattr(summary, "LOSS_LOOKBACK", 4)
    bot = BotConfigFactory(version=1, timeframe="15m", strategy_params={"fast": 3, "slow": 8},
                           risk_limits={"cooldown_after_losses": 2, "cooldown_candles": 3}).bot
    moments = closes(replay, "15m", 20, 300)  # a little over three UTC days
    if cached:
        refresh("BTCUSDT", "15m", now=moments[-1], since=moments[0] - timedelta(days=1))
    days = set()
    for i, now in enumerate(moments):
        if i == 150:  # a new config version half way: other params, another timeframe's annualisation
            bot_config_create(bot=bot, actor=ADMIN, source="manual", symbol="BTCUSDT", timeframe="15m",
                              strategy="sma_cross", strategy_params={"fast": 4, "slow": 9},
                              risk_limits={"cooldown_after_losses": 1, "cooldown_candles": 2})
        outcome = cycle.run_cycle(bot, now, SCHEDULER)
        assert outcome.status == "done", outcome.message
        days.add(now.date())
        bot.refresh_from_db()
        assert_as_history(bot)
        assert latest_metrics(bot) == metrics_from_history(bot, "15m")
        kept = stored(bot)
        # the day is the UTC day, whatever zone the time is given in
        for moment in (now, now + timedelta(days=1), now - timedelta(days=1), now - timedelta(days=3),
                       now.astimezone(KOLKATA)):
            assert summary.day_start_equity(kept, bot=bot, now=moment) == day_start_from_history(bot, moment)
        streak = summary.loss_streak(kept)
        assert (streak.consecutive_losses, streak.last_loss_candle_time) == streak_from_history(bot)
    assert len(days) >= 3
    sells = Fill.objects.filter(bot=bot, side="SELL")
    assert sells.filter(realized_pnl__lt=0).count() >= 3 and sells.filter(realized_pnl__gt=0).exists()
    assert EquitySnapshot.objects.filter(bot=bot).count() > summary.METRICS_WINDOW


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_summary_and_metrics_stay_what_the_history_gives_on_postgresql(replay, running, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    test_the_summary_and_metrics_stay_what_the_history_gives(replay, running, monkeypatch, cached=True)


@pytest.mark.django_db
def test_a_missing_summary_is_rebuilt_from_the_history(replay, running) -> None:  # type: ignore[no-untyped-def]
    bot = BotConfigFactory(version=1, strategy_params={"fast": 3, "slow": 8}).bot
    moments = closes(replay, "1m", 40, 80)
    for now in moments[:60]:
        cycle.run_cycle(bot, now, SCHEDULER)
    BotSummary.objects.filter(bot=bot).delete()  # e.g. a bot from before the summary existed
    for now in moments[60:]:
        assert cycle.run_cycle(bot, now, SCHEDULER).status == "done"
    bot.refresh_from_db()
    assert_as_history(bot)
    assert latest_metrics(bot) == metrics_from_history(bot, "1m")


@pytest.mark.django_db
def test_rows_out_of_time_order_rebuild_what_they_touch(replay, running) -> None:  # type: ignore[no-untyped-def]
    bot = BotConfigFactory(version=1, strategy_params={"fast": 3, "slow": 8}).bot
    for now in closes(replay, "1m", 40, 60):
        cycle.run_cycle(bot, now, SCHEDULER)
    kept = stored(bot)
    newest = kept.last_taken_at
    assert newest is not None
    # A snapshot older than the newest (a cycle run for an earlier moment).
    late = EquitySnapshot.objects.create(
        bot=bot, taken_at=newest - timedelta(days=1, minutes=5), cash=Decimal("9000"), positions_value=Decimal("0"),
        equity=Decimal("9000"), peak_equity=Decimal("10000"), drawdown=Decimal("0.1"),
    )
    summary.note_snapshot(kept, late)
    kept.save()
    # SELL fills reported late by the exchange, a loss and then a win.
    order = OrderFactory(bot=bot, side="SELL", candle_time=newest - timedelta(hours=3))
    fills = [
        FillFactory(order=order, filled_at=newest - timedelta(hours=2), realized_pnl=Decimal("-12.5")),
        FillFactory(order=order, filled_at=newest + timedelta(minutes=1), realized_pnl=Decimal("3.25")),
    ]
    summary.summary_note_sells(bot, fills, order.candle_time)
    assert_as_history(bot)


def test_a_trade_tally_gives_what_the_trades_give() -> None:
    pnls = [Decimal("12.5"), Decimal("-3.25000001"), Decimal("0"), Decimal("-0.00000001"), Decimal("7")]
    tally = TradeTally()
    for pnl in pnls:
        tally = tally.add(pnl)
    assert tally == TradeTally.of(pnls)
    curve = np.array([10000.0, 10010.0, 9990.0, 10020.0])
    assert compute_metrics(curve, tally, 60, 2) == compute_metrics(curve, pnls, 60, 2)
    assert compute_metrics(curve, TradeTally(), 60, 0) == compute_metrics(curve, [], 60, 0)


@pytest.mark.django_db
def test_a_hold_cycle_reads_and_writes_no_more_than_it_needs(replay, running, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    """A paper HOLD cycle: the lease, the bot with its config and summary, the
    candle window (and whether the young series got older candles), the system
    state and the positions; then, in one transaction,
    the claim of the candle (which gives the lease back), the marked position,
    the equity snapshot, the summary, the metrics snapshot, the cycle's record
    and its event (the chain head read and moved on)."""
    bot = BotConfigFactory(version=1).bot
    moments = closes(replay, "1m", 40, 14)  # the last is a HOLD, after a BUY and a SELL
    refresh("BTCUSDT", "1m", now=moments[-1], since=moments[0] - timedelta(hours=1))  # candles cached
    for now in moments[:-1]:
        cycle.run_cycle(bot, now, SCHEDULER)
    with django_assert_max_num_queries(HOLD_CYCLE_QUERIES):
        outcome = cycle.run_cycle(bot, moments[-1], SCHEDULER)
    assert outcome.status == "done" and outcome.order is None and outcome.signal.action.name == "HOLD"
    bot.refresh_from_db()
    assert bot.cycle_lock_token == "" and bot.cycle_locked_until is None


@pytest.mark.django_db
def test_a_paper_cycle_that_lost_its_lease_writes_nothing(replay, running) -> None:  # type: ignore[no-untyped-def]
    bot = BotConfigFactory(version=1).bot
    moments = closes(replay, "1m", 40, 3)
    cycle.run_cycle(bot, moments[0], SCHEDULER)
    snapshots = EquitySnapshot.objects.filter(bot=bot).count()
    # Its lease ran out and another cycle holds the bot now.
    Bot.objects.filter(pk=bot.pk).update(cycle_lock_token="another", cycle_locked_until=moments[1])
    outcome = cycle._run_claimed(bot, moments[1], SCHEDULER, Lease(bot.pk, "ours-once", held=True))
    assert outcome.status == "skipped" and "lease" in outcome.message
    assert EquitySnapshot.objects.filter(bot=bot).count() == snapshots
    assert Bot.objects.get(pk=bot.pk).cycle_lock_token == "another"
