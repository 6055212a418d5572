"""A bot's summary (:class:`trading.models.BotSummary`): the figures every cycle
needs from the bot's history, kept current instead of re-read each cycle.

The history stays the truth. :func:`summary_rebuild` derives the figures from
it with the queries the cycle used to run every time; the ``note_*`` functions
move a summary on by one new equity snapshot or closing fill, and give the very
values a rebuild would. They are called in the transaction that writes that
snapshot or fill, on the bot's locked row, and the summary is saved there too.
A summary that does not exist yet is built from the history where it is first
needed, and a row that arrives out of time order (a fill reported late by the
exchange, a cycle run for an earlier moment) makes that part rebuild.

Exactness: the cycle used to read equity and PnL back from the database, so the
summary keeps them as the database gives them back (Decimal fields of the same
precision, PnLs read back once when their fill is stored, floats as the
database casts the stored equity); the trade tally is kept as exact decimal
text, not in a column that SQLite would hold as a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.db import connection
from django.db.models import FloatField, Max
from django.db.models.functions import Cast

from trading.metrics import TradeTally
from trading.models import ZERO, Bot, BotSummary, EquitySnapshot, Fill

# Consecutive losing trades are counted among this many recent sells.
LOSS_LOOKBACK = 50
# Sharpe/Sortino of a live bot are computed over its recent equity snapshots.
METRICS_WINDOW = 500

_EIGHT_PLACES = Decimal("0.00000001")


@dataclass(frozen=True)
class LossStreak:
    consecutive_losses: int
    last_loss_candle_time: datetime | None


# --- reading -----------------------------------------------------------------------------
def summary_of(bot: Bot) -> BotSummary | None:
    """The bot's stored summary (loaded with ``select_related("summary")`` or now), if any."""
    try:
        return bot.summary
    except BotSummary.DoesNotExist:
        return None


def day_start_equity(summary: BotSummary, *, bot: Bot, now: datetime) -> Decimal:
    """Equity of the newest snapshot taken before ``now``'s UTC day began (the
    initial cash when there is none)."""
    found = _equity_before_day(summary, _midnight(now))
    return found if found is not None else bot.initial_cash


def loss_streak(summary: BotSummary) -> LossStreak:
    """Losing sells in a row among the newest ``LOSS_LOOKBACK``, and the candle of
    the newest losing sell among them."""
    recent_loss = summary.sells_since_loss is not None and summary.sells_since_loss < LOSS_LOOKBACK
    return LossStreak(summary.losing_streak, summary.last_loss_candle_time if recent_loss else None)


def trade_tally(summary: BotSummary) -> TradeTally:
    t = summary.trades
    if not t:
        return TradeTally()
    return TradeTally(count=t["count"], wins=t["wins"], gross_profit=Decimal(t["gross_profit"]),
                      gross_loss=Decimal(t["gross_loss"]), total=Decimal(t["total"]))


def equity_window(summary: BotSummary) -> tuple[np.ndarray, int]:
    """The metrics window (equity of the newest snapshots, oldest first, as
    floats) and how many of them held something."""
    curve = np.frombuffer(bytes(summary.curve), dtype="<f8")
    in_market = int(np.count_nonzero(np.frombuffer(bytes(summary.curve_in_market), dtype=np.uint8)))
    return curve, in_market


def candles_complete(summary: BotSummary | None, *, symbol: str, timeframe: str) -> tuple[datetime, datetime] | None:
    """The range of the series the bot's last cycle found all cached, if any."""
    if summary is None or summary.candles_series != f"{symbol} {timeframe}":
        return None
    if summary.candles_first is None or summary.candles_last is None:
        return None
    return summary.candles_first, summary.candles_last


# --- moving on ---------------------------------------------------------------------------
def note_snapshot(summary: BotSummary, snapshot: EquitySnapshot) -> None:
    """``snapshot`` was just stored: take it in (unsaved)."""
    taken_at = snapshot.taken_at
    if summary.last_taken_at is not None and taken_at < summary.last_taken_at:
        _rebuild_snapshots(summary)  # out of time order: it may not be the newest
        return
    day = _midnight(taken_at)
    if summary.day_start_at != day:
        summary.day_start_equity = _equity_before_day(summary, day)
        summary.day_start_at = day
    summary.last_taken_at = taken_at
    summary.last_equity = snapshot.equity
    summary.max_drawdown = max(summary.max_drawdown, snapshot.drawdown)
    curve = np.append(np.frombuffer(bytes(summary.curve), dtype="<f8"), _column_float(snapshot.equity))
    held = np.append(np.frombuffer(bytes(summary.curve_in_market), dtype=np.uint8),
                     np.uint8(_column_float(snapshot.positions_value) > 0))
    summary.curve = curve[-METRICS_WINDOW:].astype("<f8").tobytes()
    summary.curve_in_market = held[-METRICS_WINDOW:].tobytes()


def note_candles(
    summary: BotSummary, *, symbol: str, timeframe: str, complete: tuple[datetime, datetime] | None
) -> None:
    """This cycle's refresh found ``complete`` all cached (None: it could not tell)."""
    summary.candles_series = f"{symbol} {timeframe}" if complete else ""
    summary.candles_first, summary.candles_last = complete or (None, None)


def note_sell(summary: BotSummary, fill: Fill, candle_time: datetime | None) -> None:
    """A SELL ``fill`` with a realised PnL was just stored, every one before it
    taken in already: take it in (unsaved).

    ``candle_time`` is its order's candle. The PnL is read back as stored, as
    the cycle read it before.
    """
    if summary.last_sell_at is not None and fill.filled_at < summary.last_sell_at:
        _rebuild_sells(summary)  # reported late: it may not be the newest
        return
    pnl = Fill.objects.filter(pk=fill.pk).values_list("realized_pnl", flat=True).get()
    _set_tally(summary, trade_tally(summary).add(pnl))
    if pnl < 0:
        summary.losing_streak = min(summary.losing_streak + 1, LOSS_LOOKBACK)
        summary.sells_since_loss = 0
        summary.last_loss_candle_time = candle_time
    else:
        summary.losing_streak = 0
        if summary.sells_since_loss is not None:
            summary.sells_since_loss = min(summary.sells_since_loss + 1, LOSS_LOOKBACK)
    summary.last_sell_at = fill.filled_at


def summary_note_sells(bot: Bot, sells: list[Fill], candle_time: datetime | None) -> None:
    """Take in SELL fills with a realised PnL just stored for one order of
    ``bot`` (locked by the caller), oldest first, and save the summary; nothing
    to do while the bot has none (it is built from the history when needed)."""
    summary = BotSummary.objects.filter(bot=bot).first() if sells else None
    if summary is None:
        return
    times = [fill.filled_at for fill in sells]
    if summary.last_sell_at is not None:
        times.insert(0, summary.last_sell_at)
    if times != sorted(times):
        # One came in late: the history (which holds them all now) decides.
        _rebuild_sells(summary)
    else:
        for fill in sells:
            note_sell(summary, fill, candle_time)
    summary.save()


# --- from the history --------------------------------------------------------------------
def summary_rebuild(bot: Bot | int) -> BotSummary:
    """The summary as the history gives it (not saved)."""
    summary = BotSummary(bot_id=getattr(bot, "pk", bot))
    _rebuild_snapshots(summary)
    _rebuild_sells(summary)
    return summary


def _rebuild_snapshots(summary: BotSummary) -> None:
    history = EquitySnapshot.objects.filter(bot_id=summary.bot_id).order_by("-taken_at", "-id")
    newest = history.values_list("taken_at", "equity").first()
    summary.last_taken_at, summary.last_equity = newest if newest else (None, None)
    summary.day_start_at = _midnight(newest[0]) if newest else None
    summary.day_start_equity = _equity_before(summary.bot_id, summary.day_start_at) if newest else None
    summary.max_drawdown = history.aggregate(d=Max("drawdown"))["d"] or ZERO
    # Floats as the database casts the stored values.
    window = list(
        history.annotate(e=Cast("equity", FloatField()), v=Cast("positions_value", FloatField()))
        .values_list("e", "v")[:METRICS_WINDOW]
    )
    window.reverse()
    summary.curve = np.array([e for e, _ in window], dtype="<f8").tobytes()
    summary.curve_in_market = np.array([v > 0 for _, v in window], dtype=np.uint8).tobytes()


def _rebuild_sells(summary: BotSummary) -> None:
    sells = Fill.objects.filter(bot_id=summary.bot_id, side="SELL", realized_pnl__isnull=False)
    _set_tally(summary, TradeTally.of(list(sells.values_list("realized_pnl", flat=True))))
    recent = list(
        sells.order_by("-filled_at", "-id").values_list("realized_pnl", "order__candle_time", "filled_at")
        [:LOSS_LOOKBACK]
    )
    streak = 0
    for pnl, _, _ in recent:
        if pnl >= 0:
            break
        streak += 1
    summary.losing_streak = streak
    first_loss = next((i for i, (pnl, _, _) in enumerate(recent) if pnl < 0), None)
    summary.sells_since_loss = first_loss
    summary.last_loss_candle_time = recent[first_loss][1] if first_loss is not None else None
    summary.last_sell_at = recent[0][2] if recent else None


def _set_tally(summary: BotSummary, tally: TradeTally) -> None:
    # Decimal text, exact (SQLite would keep a decimal column as a float).
    summary.trades = {"count": tally.count, "wins": tally.wins, "gross_profit": str(tally.gross_profit),
                      "gross_loss": str(tally.gross_loss), "total": str(tally.total)}


def _equity_before_day(summary: BotSummary, day: datetime) -> Decimal | None:
    """Equity of the newest snapshot taken before ``day`` (a UTC midnight), None
    when there is none: from the summary when it knows, else from the history."""
    if summary.last_taken_at is None:
        return None
    if summary.last_taken_at < day:
        return summary.last_equity
    if summary.day_start_at == day:
        return summary.day_start_equity
    return _equity_before(summary.bot_id, day)  # a day before the newest snapshot's


def _equity_before(bot_id: int, moment: datetime) -> Decimal | None:
    return (
        EquitySnapshot.objects.filter(bot_id=bot_id, taken_at__lt=moment)
        .order_by("-taken_at", "-id")
        .values_list("equity", flat=True)
        .first()
    )


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _column_float(value: Decimal) -> float:
    """What ``CAST(<money column> AS float)`` gives for ``value`` once stored.

    PostgreSQL's numeric(24, 8) rounds to 8 places (ties away from zero) when
    storing; SQLite keeps the number it was given as a float.
    """
    if connection.vendor == "postgresql":
        value = value.quantize(_EIGHT_PLACES, rounding=ROUND_HALF_UP)
    return float(value)
