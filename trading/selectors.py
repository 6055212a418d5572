"""Reads for the dashboard. Each returns what a page shows in a fixed number of
queries, however many bots, orders or events there are."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import reduce
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from audit.actors import Role
from audit.models import Event
from trading import state
from trading.config_diff import diff_values
from trading.models import (
    ZERO,
    Backtest,
    Bot,
    BotConfig,
    Candle,
    CycleRun,
    EquitySnapshot,
    Fill,
    MetricsSnapshot,
    Order,
    Position,
    SystemState,
)
from trading.services import CONFIG_FIELDS, config_snapshot
from trading.timeframes import seconds as timeframe_seconds

LATEST_EVENTS = 10
EQUITY_POINTS_PER_BOT = 500
CANDLES_ON_CHART = 300


def system_state() -> SystemState:
    return state.current()


def allowed_targets(current: str, role: Role) -> list[str]:
    """The states ``role`` may move the system to from ``current`` (the state
    service's own rules, so a page never offers what the service refuses)."""
    return [to for (frm, to), roles in state.RULES.items() if frm == current and role in roles]


# --- overview -----------------------------------------------------------------


@dataclass
class BotSummary:
    bot: Bot
    config: BotConfig | None
    last_cycle: CycleRun | None
    equity: Decimal | None
    total_pnl: Decimal | None
    daily_pnl: Decimal | None


@dataclass
class Overview:
    bots: list[BotSummary]
    positions: list[Position]
    events: list[Event]
    equity_chart: dict[str, Any]
    equity: Decimal | None = None
    total_pnl: Decimal | None = None
    daily_pnl: Decimal | None = None
    as_of: datetime = field(default_factory=timezone.now)


def _latest_snapshot(field: str, *, before: datetime | None = None, skip: int = 0) -> Subquery:
    """A bot's newest snapshot's ``field`` (or the ``skip``-th newer one), read
    through the (bot, taken_at) index however long the bot's history is."""
    rows = EquitySnapshot.objects.filter(bot=OuterRef("pk"))
    if before is not None:
        rows = rows.filter(taken_at__lt=before)
    return Subquery(rows.order_by("-taken_at", "-id").values(field)[skip : skip + 1])


def _bots(now: datetime, chart_points: int) -> list[Bot]:
    midnight = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    latest_cycle = CycleRun.objects.filter(bot=OuterRef("pk")).order_by("-started_at", "-id").values("id")[:1]
    return list(
        Bot.objects.annotate(
            latest_equity=_latest_snapshot("equity"),
            day_open_equity=_latest_snapshot("equity", before=midnight),
            chart_since=_latest_snapshot("taken_at", skip=chart_points - 1),
            latest_cycle_id=Subquery(latest_cycle),
        ).prefetch_related(
            Prefetch("configs", BotConfig.objects.filter(is_active=True), to_attr="active_configs")
        )
    )


def _summaries(bots: list[Bot]) -> list[BotSummary]:
    """Daily PnL runs from the last snapshot before midnight UTC; a bot with
    none then started the day at its initial cash."""
    cycles = CycleRun.objects.in_bulk([b.latest_cycle_id for b in bots if b.latest_cycle_id])
    rows = []
    for bot in bots:
        equity = bot.latest_equity
        day_open = bot.day_open_equity if bot.day_open_equity is not None else bot.initial_cash
        rows.append(
            BotSummary(
                bot=bot,
                config=bot.active_configs[0] if bot.active_configs else None,
                last_cycle=cycles.get(bot.latest_cycle_id),
                equity=equity,
                total_pnl=None if equity is None else equity - bot.initial_cash,
                daily_pnl=None if equity is None else equity - day_open,
            )
        )
    return rows


def _equity_chart(bots: list[Bot]) -> dict[str, Any]:
    """Each bot's last snapshots as chart series, in one query that walks the
    (bot, taken_at) index from each bot's cutoff.

    Times are whole seconds, strictly increasing per series, as the chart needs:
    two snapshots in the same second keep the later one.
    """
    names = {bot.pk: bot.name for bot in bots}
    ranges = [
        Q(bot_id=bot.pk, taken_at__gte=bot.chart_since) if bot.chart_since else Q(bot_id=bot.pk)
        for bot in bots
        if bot.latest_equity is not None
    ]
    series: dict[str, dict[int, float]] = {}
    if ranges:
        rows = (
            EquitySnapshot.objects.filter(reduce(operator.or_, ranges))
            .order_by("bot_id", "taken_at", "id")
            .values_list("bot_id", "taken_at", "equity")
        )
        for bot_id, taken_at, equity in rows:
            series.setdefault(names[bot_id], {})[int(taken_at.timestamp())] = float(equity)
    return {
        "series": [
            {"name": name, "points": [[t, v] for t, v in sorted(points.items())]}
            for name, points in sorted(series.items())
        ]
    }


def overview(now: datetime | None = None, *, chart_points: int = EQUITY_POINTS_PER_BOT) -> Overview:
    """Everything the overview shows, in six queries whatever the history's length."""
    bot_rows = _bots(now or timezone.now(), chart_points)
    bots = _summaries(bot_rows)
    with_equity = [b for b in bots if b.equity is not None]

    def total(attr: str) -> Decimal | None:
        return sum((getattr(b, attr) for b in with_equity), ZERO) if with_equity else None

    positions = list(
        Position.objects.filter(quantity__gt=0).select_related("bot").order_by("bot__name", "symbol")
    )
    events = list(
        Event.objects.select_related("bot").defer("inputs", "result", "prev_hash", "hash")[:LATEST_EVENTS]
    )
    return Overview(
        bots=bots,
        positions=positions,
        events=events,
        equity_chart=_equity_chart(bot_rows),
        equity=total("equity"),
        total_pnl=total("total_pnl"),
        daily_pnl=total("daily_pnl"),
    )


# --- a bot --------------------------------------------------------------------


@dataclass(frozen=True)
class DiffRow:
    key: str
    old: str
    new: str

    @property
    def change(self) -> str:
        if self.old == "":
            return "added"
        if self.new == "":
            return "removed"
        return "changed"


def _leaves(value: Any, path: str) -> dict[str, str]:
    # An empty dict has no leaves: {} → {"a": 1} reads as "a added".
    if isinstance(value, dict):
        return {leaf: shown for key in sorted(value) for leaf, shown in _leaves(value[key], f"{path}.{key}").items()}
    return {path: json.dumps(value, sort_keys=True)}


def config_diff(old: BotConfig, new: BotConfig) -> list[DiffRow]:
    """What differs between two config versions (:func:`diff_values`, as the API
    says it) one row per leaf (``strategy_params.fast``): an object added or
    removed as a whole reads leaf by leaf. Values as JSON, so that ``10`` and
    ``"10"`` differ; rows in the order of the config's fields."""
    rows: list[DiffRow] = []
    for change in diff_values(config_snapshot(old), config_snapshot(new)):
        before = {} if change["change"] == "added" else _leaves(change["from"], change["path"])
        after = {} if change["change"] == "removed" else _leaves(change["to"], change["path"])
        rows.extend(
            DiffRow(leaf, before.get(leaf, ""), after.get(leaf, ""))
            for leaf in before.keys() | after.keys()
            if before.get(leaf) != after.get(leaf)
        )
    return sorted(rows, key=lambda row: (CONFIG_FIELDS.index(row.key.split(".")[0]), row.key))


@dataclass
class BotPage:
    bot: Bot
    configs: list[BotConfig]
    active: BotConfig | None
    metrics: MetricsSnapshot | None
    last_cycle: CycleRun | None
    chart: dict[str, Any]
    candle_count: int


def _candle_chart(bot: Bot, config: BotConfig | None, limit: int) -> tuple[dict[str, Any], int]:
    """Candles of the active config's market, and the bot's fills on them as markers."""
    if config is None:
        return {"candles": [], "markers": []}, 0
    rows = list(
        Candle.objects.filter(symbol=config.symbol, timeframe=config.timeframe)
        .order_by("-open_time")
        .values_list("open_time", "open", "high", "low", "close")[:limit]
    )
    rows.reverse()
    candles = [
        {"time": int(t.timestamp()), "open": float(o), "high": float(h), "low": float(lo), "close": float(c)}
        for t, o, h, lo, c in rows
    ]
    markers: list[dict[str, Any]] = []
    if rows:
        step = timeframe_seconds(config.timeframe)
        times = {c["time"] for c in candles}
        first = rows[0][0]
        fills = (
            Fill.objects.filter(bot=bot, symbol=config.symbol, filled_at__gte=first)
            .order_by("filled_at", "id")
            .values_list("filled_at", "side", "quantity")
        )
        for filled_at, side, quantity in fills:
            # A marker sits on the candle that was open when the fill happened.
            at = int(filled_at.timestamp()) // step * step
            if at not in times:
                continue
            label = "Buy" if side == "BUY" else "Sell"
            markers.append({"time": at, "side": side, "text": f"{label} {quantity.normalize():f}"})
    return {"candles": candles, "markers": markers}, len(candles)


def bot_page(name: str, *, candle_limit: int = CANDLES_ON_CHART) -> BotPage:
    bot = get_object_or_404(Bot, name=name)
    configs = list(BotConfig.objects.filter(bot=bot).order_by("-version"))
    active = next((c for c in configs if c.is_active), None)
    chart, count = _candle_chart(bot, active, candle_limit)
    return BotPage(
        bot=bot,
        configs=configs,
        active=active,
        metrics=MetricsSnapshot.objects.filter(bot=bot).order_by("-taken_at", "-id").first(),
        last_cycle=CycleRun.objects.filter(bot=bot).order_by("-started_at", "-id").first(),
        chart=chart,
        candle_count=count,
    )


def bot_names() -> list[tuple[int, str]]:
    return list(Bot.objects.order_by("name").values_list("id", "name"))


# --- orders and fills ---------------------------------------------------------


def orders_filtered(
    *,
    bot: int | None = None,
    symbol: str = "",
    side: str = "",
    status: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Order]:
    """For the orders page and its CSV, newest first (:func:`order_list`'s
    filters; the symbol in any case)."""
    return (
        order_list(bot=bot or None, symbol=symbol.upper(), side=side, status=status, since=since, until=until)
        .select_related("bot")
        .order_by("-created_at", "-id")
    )


def fills_filtered(
    *,
    bot: int | None = None,
    symbol: str = "",
    side: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Fill]:
    """For the fills page and its CSV, newest first (:func:`fill_list`'s
    filters; the symbol in any case)."""
    return (
        fill_list(bot=bot or None, symbol=symbol.upper(), side=side, since=since, until=until)
        .select_related("bot")
        .order_by("-filled_at", "-id")
    )


def bot_list() -> QuerySet[Bot]:
    active = BotConfig.objects.filter(is_active=True)
    return Bot.objects.prefetch_related(Prefetch("configs", queryset=active, to_attr="active_configs"))


def bot_get(*, bot_id: int) -> Bot:
    bot = bot_list().filter(pk=bot_id).first()
    if bot is None:
        raise Http404(f"no bot with id {bot_id}")
    return bot


def bot_config_list(*, bot: Bot) -> QuerySet[BotConfig]:
    return BotConfig.objects.filter(bot=bot).select_related("rolled_back_to").order_by("-version")


def bot_config_get(*, bot: Bot, version: int) -> BotConfig:
    config = bot_config_list(bot=bot).filter(version=version).first()
    if config is None:
        raise Http404(f"{bot.name} has no config version {version}")
    return config


def bot_config_diff(*, bot: Bot, from_version: int, to_version: int) -> dict[str, Any]:
    before = bot_config_get(bot=bot, version=from_version)
    after = bot_config_get(bot=bot, version=to_version)
    return {
        "bot": bot.pk,
        "from_version": from_version,
        "to_version": to_version,
        "changes": diff_values(config_snapshot(before), config_snapshot(after)),
    }


def _filtered(
    queryset: QuerySet[Any],
    time_field: str,
    *,
    bot: int | None = None,
    symbol: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    exactly: dict[str, str | None] | None = None,
) -> QuerySet[Any]:
    """The records' filters (the API's and the pages'): a bot, a symbol, a time
    range on ``time_field``, and the ``exactly`` fields (side, status) that are given."""
    if bot is not None:
        queryset = queryset.filter(bot_id=bot)
    if symbol:
        queryset = queryset.filter(symbol=symbol)
    for name, value in (exactly or {}).items():
        if value:
            queryset = queryset.filter(**{name: value})
    if since is not None:
        queryset = queryset.filter(**{f"{time_field}__gte": since})
    if until is not None:
        queryset = queryset.filter(**{f"{time_field}__lt": until})
    return queryset


def order_list(
    *,
    bot: int | None = None,
    symbol: str | None = None,
    side: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Order]:
    return _filtered(Order.objects.all(), "created_at", bot=bot, symbol=symbol, since=since, until=until,
                     exactly={"side": side, "status": status})


def fill_list(
    *,
    bot: int | None = None,
    symbol: str | None = None,
    side: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Fill]:
    return _filtered(Fill.objects.select_related("order"), "filled_at", bot=bot, symbol=symbol, since=since,
                     until=until, exactly={"side": side})


def position_list(**filters: Any) -> QuerySet[Position]:
    return _filtered(Position.objects.all(), "updated_at", **filters)


def equity_snapshot_list(**filters: Any) -> QuerySet[EquitySnapshot]:
    return _filtered(EquitySnapshot.objects.all(), "taken_at", **filters)


def metrics_snapshot_list(**filters: Any) -> QuerySet[MetricsSnapshot]:
    return _filtered(MetricsSnapshot.objects.all(), "taken_at", **filters)


def login_lockout_list() -> QuerySet[AccessAttempt]:
    """Username+address pairs locked out of logging in right now."""
    return AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gt=timezone.now() - settings.AXES_COOLOFF_TIME,
    ).order_by("-attempt_time")


# --- charts -------------------------------------------------------------------------


def chart_points(points: Any) -> list[list[float]]:
    """Stored ``[[ms, value], …]`` as the charts want them: whole seconds, strictly
    increasing (a later point in the same second wins); malformed points dropped."""
    by_second: dict[int, float] = {}
    for point in points if isinstance(points, list) else []:
        if isinstance(point, list | tuple) and len(point) == 2:
            try:
                by_second[int(point[0]) // 1000] = float(point[1])
            except (TypeError, ValueError):
                continue
    return [[t, v] for t, v in sorted(by_second.items())]


# --- the scheduler --------------------------------------------------------------


@dataclass(frozen=True)
class BotSchedule:
    """One bot's cycles as beat runs them."""

    bot: Bot
    config: BotConfig | None
    interval_seconds: int
    # True: one cycle per candle of the active timeframe; False: the bot's own interval.
    follows_timeframe: bool
    # Whether beat's periodic task is on (the bot's switch, the global switch and
    # an active config all needed).
    scheduled: bool
    last_run_at: datetime | None
    next_run_at: datetime | None
    # The next run is well past: beat may not be running.
    overdue: bool = False


# How late a run may be before the page says so (beat checks its schedule every few seconds).
OVERDUE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class SchedulerView:
    enabled: bool
    bots: list[BotSchedule]
    # Read once per request: the page's header badge shows it too.
    system_state: SystemState


def scheduler_view() -> SchedulerView:
    """The global switch and every bot's schedule, in three queries."""
    from django_celery_beat.models import PeriodicTask

    from trading import scheduling

    current = state.current()
    now = timezone.now()
    bots = list(bot_list().order_by("name"))
    tasks = {
        task.name: task
        for task in PeriodicTask.objects.filter(name__in=[scheduling.task_name(b) for b in bots]).select_related(
            "interval"
        )
    }
    rows = []
    for bot in bots:
        config = bot.active_configs[0] if bot.active_configs else None
        every = scheduling.interval_seconds(bot, config) if config or bot.schedule_interval_seconds else None
        task = tasks.get(scheduling.task_name(bot))
        scheduled = bool(task and task.enabled)
        last_run = task.last_run_at if task else None
        # Beat runs a task that has never run at its next tick; otherwise one
        # interval after the last run.
        next_run = None
        if scheduled and last_run is not None and every:
            next_run = last_run + timedelta(seconds=every)
        rows.append(
            BotSchedule(
                bot=bot,
                config=config,
                interval_seconds=every or 0,
                follows_timeframe=not bot.schedule_interval_seconds,
                scheduled=scheduled,
                last_run_at=last_run,
                next_run_at=next_run,
                overdue=next_run is not None and next_run < now - OVERDUE_AFTER,
            )
        )
    return SchedulerView(enabled=current.scheduler_enabled, bots=rows, system_state=current)


def bot_schedule(*, bot_id: int) -> BotSchedule:
    found = next((row for row in scheduler_view().bots if row.bot.pk == bot_id), None)
    if found is None:
        raise Http404(f"no bot with id {bot_id}")
    return found


# --- backtests ------------------------------------------------------------------

# The heavy columns a list of backtests leaves out.
BACKTEST_DETAIL_ONLY = ("trades", "equity_curve", "blocks", "risk_limits")


def backtest_list(*, status: str | None = None, bot: int | None = None) -> QuerySet[Backtest]:
    backtests = Backtest.objects.defer(*BACKTEST_DETAIL_ONLY)
    if status:
        backtests = backtests.filter(status=status)
    if bot is not None:
        backtests = backtests.filter(bot_id=bot)
    return backtests


def backtest_get(*, backtest_id: int) -> Backtest:
    backtest = Backtest.objects.filter(pk=backtest_id).first()
    if backtest is None:
        raise Http404(f"no backtest #{backtest_id}")
    return backtest


@dataclass(frozen=True)
class CachedSeries:
    symbol: str
    timeframe: str
    first: datetime
    last: datetime
    count: int


def cached_series() -> list[CachedSeries]:
    """What a backtest can run on: every cached symbol and timeframe, with its span."""
    from django.db.models import Count, Max, Min

    rows = (
        Candle.objects.values("symbol", "timeframe")
        .annotate(first=Min("open_time"), last=Max("open_time"), count=Count("id"))
        .order_by("symbol", "timeframe")
    )
    return [CachedSeries(r["symbol"], r["timeframe"], r["first"], r["last"], r["count"]) for r in rows]
