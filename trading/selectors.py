"""Reads for the dashboard. Each returns what a page shows in a fixed number of
queries, however many bots, orders or events there are."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from django.db.models import F, OuterRef, Prefetch, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.shortcuts import get_object_or_404
from django.utils import timezone

from audit.actors import Role
from audit.models import Event
from trading import state
from trading.models import (
    ZERO,
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
from trading.services import CONFIG_FIELDS
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


def _latest_equity(before: datetime | None = None) -> Subquery:
    rows = EquitySnapshot.objects.filter(bot=OuterRef("pk"))
    if before is not None:
        rows = rows.filter(taken_at__lt=before)
    return Subquery(rows.order_by("-taken_at", "-id").values("equity")[:1])


def bots_with_summary(now: datetime | None = None) -> list[BotSummary]:
    """Every bot with its active config, latest cycle and PnL (three queries).

    Daily PnL runs from the last snapshot before midnight UTC; a bot with none
    then started the day at its initial cash.
    """
    now = now or timezone.now()
    midnight = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    bots = Bot.objects.annotate(
        latest_equity=_latest_equity(),
        day_open_equity=_latest_equity(before=midnight),
    ).prefetch_related(
        Prefetch("configs", BotConfig.objects.filter(is_active=True), to_attr="active_configs"),
        Prefetch(
            "cycles",
            CycleRun.objects.order_by("-started_at", "-id")[:1],
            to_attr="latest_cycles",
        ),
    )
    rows = []
    for bot in bots:
        equity = bot.latest_equity
        rows.append(
            BotSummary(
                bot=bot,
                config=bot.active_configs[0] if bot.active_configs else None,
                last_cycle=bot.latest_cycles[0] if bot.latest_cycles else None,
                equity=equity,
                total_pnl=None if equity is None else equity - bot.initial_cash,
                daily_pnl=None
                if equity is None
                else equity - (bot.day_open_equity if bot.day_open_equity is not None else bot.initial_cash),
            )
        )
    return rows


def equity_chart_data(limit_per_bot: int = EQUITY_POINTS_PER_BOT) -> dict[str, Any]:
    """The last ``limit_per_bot`` equity snapshots of each bot, as chart series.

    Times are whole seconds, strictly increasing per series, as the chart needs:
    two snapshots in the same second keep the later one.
    """
    ranked = (
        EquitySnapshot.objects.annotate(
            rank=Window(RowNumber(), partition_by=[F("bot_id")], order_by=[F("taken_at").desc(), F("id").desc()])
        )
        .filter(rank__lte=limit_per_bot)
        .order_by("bot__name", "taken_at", "id")
        .values_list("bot__name", "taken_at", "equity")
    )
    series: dict[str, dict[int, float]] = {}
    for name, taken_at, equity in ranked:
        series.setdefault(name, {})[int(taken_at.timestamp())] = float(equity)
    return {
        "series": [
            {"name": name, "points": [[t, v] for t, v in sorted(points.items())]}
            for name, points in series.items()
        ]
    }


def overview(now: datetime | None = None) -> Overview:
    bots = bots_with_summary(now)
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
        equity_chart=equity_chart_data(),
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


def _flatten(value: Any, prefix: str) -> dict[str, str]:
    # An empty dict has no leaves: {} → {"a": 1} reads as "a added".
    if isinstance(value, dict):
        flat: dict[str, str] = {}
        for key in sorted(value):
            flat.update(_flatten(value[key], f"{prefix}.{key}"))
        return flat
    return {prefix: json.dumps(value, sort_keys=True)}


def config_diff(old: BotConfig, new: BotConfig) -> list[DiffRow]:
    """What differs between two config versions, one row per changed leaf
    (``strategy_params.fast``), values as JSON so that ``10`` and ``"10"`` differ."""
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    for name in CONFIG_FIELDS:
        before.update(_flatten(getattr(old, name), name))
        after.update(_flatten(getattr(new, name), name))
    keys = sorted(set(before) | set(after), key=lambda k: (CONFIG_FIELDS.index(k.split(".")[0]), k))
    return [
        DiffRow(key, before.get(key, ""), after.get(key, ""))
        for key in keys
        if before.get(key) != after.get(key)
    ]


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
    orders = Order.objects.select_related("bot").order_by("-created_at", "-id")
    if bot:
        orders = orders.filter(bot_id=bot)
    if symbol:
        orders = orders.filter(symbol=symbol.upper())
    if side:
        orders = orders.filter(side=side)
    if status:
        orders = orders.filter(status=status)
    if since:
        orders = orders.filter(created_at__gte=since)
    if until:
        orders = orders.filter(created_at__lt=until)
    return orders


def fills_filtered(
    *,
    bot: int | None = None,
    symbol: str = "",
    side: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Fill]:
    fills = Fill.objects.select_related("bot", "order").order_by("-filled_at", "-id")
    if bot:
        fills = fills.filter(bot_id=bot)
    if symbol:
        fills = fills.filter(symbol=symbol.upper())
    if side:
        fills = fills.filter(side=side)
    if since:
        fills = fills.filter(filled_at__gte=since)
    if until:
        fills = fills.filter(filled_at__lt=until)
    return fills


