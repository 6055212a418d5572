"""The overview's reads: PnL arithmetic, the chart's series, latest cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from audit.actors import Role
from tests.factories import BotFactory
from trading.models import CycleRun, EquitySnapshot
from trading.selectors import allowed_targets, overview

NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)


def snapshot(bot, at: datetime, equity: str) -> None:  # type: ignore[no-untyped-def]
    value = Decimal(equity)
    EquitySnapshot.objects.create(bot=bot, taken_at=at, cash=value, positions_value=Decimal("0"),
                                  equity=value, peak_equity=value)


@pytest.mark.django_db
def test_daily_pnl_starts_from_the_last_snapshot_before_midnight() -> None:
    old = BotFactory(name="old", initial_cash=Decimal("1000"))
    snapshot(old, NOW - timedelta(days=1), "1100")
    snapshot(old, NOW - timedelta(hours=15, minutes=1), "1150")  # 23:59 the day before
    snapshot(old, NOW - timedelta(hours=1), "1120.50")
    new = BotFactory(name="new", initial_cash=Decimal("500"))
    snapshot(new, NOW - timedelta(hours=2), "490")
    BotFactory(name="idle")

    result = overview(NOW)

    rows = {row.bot.name: row for row in result.bots}
    assert (rows["old"].total_pnl, rows["old"].daily_pnl) == (Decimal("120.50"), Decimal("-29.50"))
    assert (rows["new"].total_pnl, rows["new"].daily_pnl) == (Decimal("-10"), Decimal("-10"))
    assert rows["idle"].equity is None and rows["idle"].total_pnl is None
    assert (result.equity, result.total_pnl, result.daily_pnl) == (
        Decimal("1610.50"), Decimal("110.50"), Decimal("-39.50")
    )


@pytest.mark.django_db
def test_totals_are_empty_without_any_snapshot() -> None:
    BotFactory(name="idle")
    result = overview(NOW)
    assert (result.equity, result.total_pnl, result.daily_pnl) == (None, None, None)
    assert result.equity_chart == {"series": []}


@pytest.mark.django_db
def test_chart_keeps_each_bots_latest_points_in_time_order() -> None:
    busy = BotFactory(name="busy")
    quiet = BotFactory(name="quiet")
    for i in range(30):
        snapshot(busy, NOW - timedelta(minutes=30 - i), str(1000 + i))
    snapshot(quiet, NOW - timedelta(days=3), "700")

    chart = overview(NOW, chart_points=10).equity_chart

    series = {s["name"]: s["points"] for s in chart["series"]}
    assert [v for _, v in series["busy"]] == [float(1000 + i) for i in range(20, 30)]
    times = [t for t, _ in series["busy"]]
    assert times == sorted(times) and len(set(times)) == 10
    assert series["quiet"] == [[int((NOW - timedelta(days=3)).timestamp()), 700.0]]


@pytest.mark.django_db
def test_chart_keeps_the_later_of_two_snapshots_in_the_same_second() -> None:
    bot = BotFactory(name="fast")
    snapshot(bot, NOW.replace(microsecond=100), "1")
    snapshot(bot, NOW.replace(microsecond=900), "2")
    assert overview(NOW).equity_chart["series"][0]["points"] == [[int(NOW.timestamp()), 2.0]]


@pytest.mark.django_db
def test_each_bot_shows_its_latest_cycle() -> None:
    bot = BotFactory(name="cycler")
    for minutes, signal in ((3, "BUY"), (1, "SELL"), (2, "HOLD")):
        CycleRun.objects.create(bot=bot, started_at=NOW - timedelta(minutes=minutes), actor="scheduler",
                                status=CycleRun.Status.DONE, signal=signal)
    BotFactory(name="never")
    rows = {row.bot.name: row for row in overview(NOW).bots}
    assert rows["cycler"].last_cycle.signal == "SELL"
    assert rows["never"].last_cycle is None


@pytest.mark.parametrize(
    "state,role,expected",
    [
        ("RUNNING", Role.OPERATOR, ["PAUSED", "EMERGENCY_STOP"]),
        ("PAUSED", Role.OPERATOR, ["RUNNING", "EMERGENCY_STOP"]),
        ("EMERGENCY_STOP", Role.OPERATOR, []),
        ("EMERGENCY_STOP", Role.ADMIN, ["PAUSED", "RUNNING"]),
        ("RUNNING", Role.VIEWER, []),
    ],
)
def test_controls_offered_follow_the_state_services_rules(state, role, expected) -> None:  # type: ignore[no-untyped-def]
    assert allowed_targets(state, role) == expected
