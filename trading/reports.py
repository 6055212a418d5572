"""Plain-text reports for chat (Telegram commands and the daily summary).

Read-only: ORM queries and formatting, no writes. Plain text on purpose: no
markup to escape, so a bot name or a reason can never break a message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum

from approvals.models import Approval
from trading import selectors, state
from trading.models import ZERO, Bot, BotConfig, EquitySnapshot, Fill, Order, Position

MAX_ORDERS = 10


def money(value: Decimal | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def quantity(value: Decimal | None) -> str:
    if value is None:
        return "–"
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def percent(ratio: Decimal | None, signed: bool = False) -> str:
    if ratio is None:
        return "–"
    return f"{ratio * 100:+.2f}%" if signed else f"{ratio * 100:.2f}%"


def when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "never"


def _active_configs() -> dict[int, BotConfig]:
    return {c.bot_id: c for c in BotConfig.objects.filter(is_active=True)}


def status_text() -> str:
    row = state.current()
    lines = [f"System: {row.state} since {when(row.changed_at)} by {row.changed_by}"]
    if row.reason:
        lines[0] += f" ({row.reason})"
    lines.append(f"Scheduler: {'on' if row.scheduler_enabled else 'off'}")
    configs = _active_configs()
    bots = list(Bot.objects.all())
    if not bots:
        lines.append("No bots yet.")
    for bot in bots:
        config = configs.get(bot.pk)
        setup = (
            f"v{config.version} {config.strategy} {config.symbol} {config.timeframe} {config.mode}"
            if config else "no active configuration"
        )
        switch = "on" if bot.enabled else "off"
        blocked = f"; blocked: {bot.trading_blocked_reason}" if bot.trading_blocked_reason else ""
        lines.append(f"• {bot.name}: {setup}; cycles {switch}, last {when(bot.last_cycle_at)}{blocked}")
    pending = Approval.objects.filter(status=Approval.Status.PENDING).count()
    lines.append(f"Pending proposals: {pending}" + (" (/approve ID or /reject ID)" if pending else ""))
    return "\n".join(lines)


def positions_text() -> str:
    held = list(Position.objects.filter(quantity__gt=0).select_related("bot").order_by("bot__name", "symbol"))
    if not held:
        return "No open positions."
    lines = ["Open positions:"]
    for pos in held:
        last = money(pos.last_price) if pos.last_price is not None else "no price yet"
        lines.append(
            f"• {pos.bot.name} {pos.symbol}: {quantity(pos.quantity)} at {money(pos.avg_entry_price)} avg, "
            f"last {last}, unrealized {money(pos.unrealized_pnl, signed=True)}"
        )
    return "\n".join(lines)


def _equity_at(bot: Bot, moment: datetime) -> EquitySnapshot | None:
    return EquitySnapshot.objects.filter(bot=bot, taken_at__lt=moment).order_by("-taken_at", "-id").first()


def pnl_text(now: datetime | None = None) -> str:
    """The dashboard's own figures (``selectors.overview``), so chat and page agree."""
    view = selectors.overview(now, chart_points=1)
    if not view.bots:
        return "No bots yet."
    lines = ["Profit and loss (today runs from the last snapshot before 00:00 UTC):"]
    for row in view.bots:
        if row.equity is None:
            lines.append(f"• {row.bot.name}: no equity snapshot yet (cash {money(row.bot.cash)})")
            continue
        ratio = row.total_pnl / row.bot.initial_cash if row.bot.initial_cash else None
        lines.append(
            f"• {row.bot.name}: equity {money(row.equity)}, total {money(row.total_pnl, signed=True)} "
            f"({percent(ratio, signed=True)}), today {money(row.daily_pnl, signed=True)}"
        )
    if view.equity is not None and len(view.bots) > 1:
        lines.append(f"All bots: equity {money(view.equity)}, total {money(view.total_pnl, signed=True)}, "
                     f"today {money(view.daily_pnl, signed=True)}")
    return "\n".join(lines)


def _order_line(order: Order) -> str:
    price = f" @ {money(order.avg_fill_price)}" if order.avg_fill_price else ""
    return (
        f"• {order.bot.name} {order.side} {quantity(order.quantity)} {order.symbol} {order.status}"
        f"{price} ({when(order.created_at)})"
    )


def orders_text() -> str:
    open_orders = list(
        Order.objects.select_related("bot").filter(status__in=Order.OPEN_STATUSES).order_by("-created_at")[:MAX_ORDERS]
    )
    if open_orders:
        return "\n".join(["Open orders:", *(_order_line(o) for o in open_orders)])
    recent = list(Order.objects.select_related("bot").order_by("-created_at", "-id")[:MAX_ORDERS])
    if not recent:
        return "No orders yet."
    return "\n".join(["No open orders. Latest:", *(_order_line(o) for o in recent)])


def daily_summary_text(*, day_end: datetime) -> str:
    """The UTC day that ends at ``day_end``: fills, realized PnL and equity per bot."""
    day_start = day_end - timedelta(days=1)
    row = state.current()
    lines = [f"Daily summary for {day_start:%Y-%m-%d} (UTC)", f"System: {row.state}"]
    fills = {
        item["bot"]: item
        for item in Fill.objects.filter(filled_at__gte=day_start, filled_at__lt=day_end)
        .values("bot")
        .annotate(count=Count("id"), realized=Sum("realized_pnl"), fees=Sum("fee"))
    }
    for bot in Bot.objects.all():
        end = _equity_at(bot, day_end)
        start = _equity_at(bot, day_start)
        change = end.equity - start.equity if end and start else None
        day = fills.get(bot.pk, {})
        lines.append(
            f"• {bot.name}: {day.get('count', 0)} fills, realized {money(day.get('realized') or ZERO, signed=True)}, "
            f"fees {money(day.get('fees') or ZERO)}; equity {money(end.equity if end else None)} "
            f"(day {money(change, signed=True)})"
        )
    counts = Approval.objects.aggregate(
        pending=Count("id", filter=Q(status=Approval.Status.PENDING)),
        expired=Count("id", filter=Q(status=Approval.Status.EXPIRED, decided_at__gte=day_start,
                                     decided_at__lt=day_end)),
    )
    lines.append(f"Proposals: {counts['pending']} pending, {counts['expired']} expired that day")
    return "\n".join(lines)
