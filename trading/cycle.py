"""One trading cycle of one bot: the only place that sequences
market data → strategy → risk → execution → persistence → audit.

Every way in (beat, the ``run_cycle`` command, a button, an API call) calls
:func:`run_cycle`. It is single-flight per bot (a lease claimed with a
conditional update, so a second concurrent cycle is skipped and recorded) and
idempotent per candle (the client order id is derived from bot + candle time +
side, and the bot remembers the last candle it acted on).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.actors import Actor
from audit.services import record
from risk.engine import Decision, PortfolioView, RiskSignal, evaluate
from risk.limits import RiskLimits
from trading import failpoints, market_data, reconcile, state, timeframes
from trading.adapters.errors import ExchangeError, IpBanned, RateLimited
from trading.candles import Candles, to_decimal
from trading.execution import live
from trading.execution.paper import ExecutionResult, OrderRequest, PaperFillModel
from trading.lease import Lease, bot_lease
from trading.metrics import compute as compute_metrics
from trading.models import (
    ZERO,
    Bot,
    BotConfig,
    BotSummary,
    CycleRun,
    EquitySnapshot,
    Fill,
    MetricsSnapshot,
    Mode,
    Order,
    Position,
    SystemState,
)
from trading.portfolio import Portfolio, PositionState
from trading.strategies.base import Signal
from trading.strategies.registry import get_strategy
from trading.summary import (
    candles_complete,
    day_start_equity,
    equity_window,
    loss_streak,
    note_candles,
    note_sell,
    note_snapshot,
    summary_of,
    summary_rebuild,
    trade_tally,
)


@dataclass(frozen=True)
class CycleOutcome:
    status: str  # "done" | "skipped" | "failed"
    message: str
    cycle: CycleRun | None = None
    order: Order | None = None
    decision: Decision | None = None
    signal: Signal | None = None


def client_order_id(bot: Bot, candle_open_ms: int, side: str) -> str:
    """Deterministic: the same bot, candle and side always give the same id.

    Binance accepts at most 36 characters of ``[.A-Z:/a-z0-9_-]``.
    """
    digest = hashlib.sha256(f"{bot.pk}:{bot.name}".encode()).hexdigest()[:6]
    return f"tb{bot.pk}-{digest}-{candle_open_ms // 1000}-{side[0]}"


def cost_bps() -> Decimal:
    """What the risk engine reserves for costs when it checks the cash."""
    return settings.PAPER_FEE_BPS + settings.PAPER_SLIPPAGE_BPS


def paper_fill_model() -> PaperFillModel:
    return PaperFillModel(fee_bps=settings.PAPER_FEE_BPS, slippage_bps=settings.PAPER_SLIPPAGE_BPS)


def run_cycle(bot: Bot, now: datetime, actor: Actor) -> CycleOutcome:
    """Run one cycle of ``bot`` at ``now`` (real or simulated time) for ``actor``."""
    with bot_lease(bot) as lease:
        if not lease:
            return _skip(bot, now, actor, "locked", "another cycle of this bot is running")
        return _run_claimed(bot, now, actor, lease)


def _skip(
    bot: Bot, now: datetime, actor: Actor, code: str, message: str, config: BotConfig | None = None,
    candle_time: datetime | None = None, extra: dict[str, Any] | None = None,
) -> CycleOutcome:
    with transaction.atomic():
        run = CycleRun.objects.create(
            bot=bot, config=config, started_at=now, actor=actor.name, candle_time=candle_time,
            status=CycleRun.Status.SKIPPED, detail=f"{code}: {message}",
        )
        record(
            "trading.cycle.skipped",
            actor,
            message,
            inputs={"now": now, "candle_time": candle_time,
                    "config_version": config.version if config else None},
            result={"skipped": code, **(extra or {})},
            bot=bot,
        )
    return CycleOutcome("skipped", message, run)


def _exchange_skip(
    bot: Bot, now: datetime, actor: Actor, error: ExchangeError, during: str, config: BotConfig,
    candle_time: datetime | None = None,
) -> CycleOutcome:
    """The exchange failed the cycle (429, 418, down...): recorded, and the
    candle is left for the next cycle. Repeated IP bans pause the system."""
    code = "ip_banned" if isinstance(error, IpBanned) else (
        "rate_limited" if isinstance(error, RateLimited) else "exchange_error"
    )
    outcome = _skip(
        bot, now, actor, code, f"the exchange failed the cycle during {during}: {error.message}", config,
        candle_time, extra={"during": during, "error": error.as_dict()},
    )
    if isinstance(error, IpBanned):
        live.pause_on_repeated_bans()
    return outcome


def _load(bot: Bot) -> BotConfig | None:
    """The bot's active config, with the bot as it is now and its summary (one query)."""
    try:
        return BotConfig.objects.select_related("bot", "bot__summary").get(bot_id=bot.pk, is_active=True)
    except BotConfig.DoesNotExist:  # at most one is active (a constraint)
        return None


def _run_claimed(bot: Bot, now: datetime, actor: Actor, lease: Lease) -> CycleOutcome:
    config = _load(bot)
    if config is None:
        return _skip(bot, now, actor, "no_config", "the bot has no active configuration")
    bot = config.bot
    is_live = config.mode == Mode.LIVE
    reconciled = None
    # Without credentials nothing can be read from the account; the
    # API_CREDENTIALS gate then refuses any order this cycle decides on.
    if is_live and live.credentials_present():
        # Every live cycle starts from the exchange's truth: open orders
        # re-read, fills applied, balances compared (a mismatch blocks the bot).
        try:
            reconciled = reconcile.bot_reconcile(bot=bot, actor=actor)
        except ExchangeError as exc:
            return _exchange_skip(bot, now, actor, exc, "reconciliation", config)
        # Its fills may have moved the cash, the positions and the summary.
        config = _load(bot) or config
        bot = config.bot
    if bot.trading_blocked_reason:
        return _skip(bot, now, actor, "blocked", f"trading blocked: {bot.trading_blocked_reason}", config)

    strategy = get_strategy(config.strategy)
    params = strategy.validate(config.strategy_params)
    limits = RiskLimits.from_dict(config.risk_limits)
    symbol, timeframe = config.symbol, config.timeframe

    # 1. market data. When the cache already holds the window and all that a
    # refresh checks, one read serves both.
    needed = strategy.lookback(params) + 1
    if limits.atr_scaling:
        needed = max(needed, limits.atr_period + 2)
    known = candles_complete(summary_of(bot), symbol=symbol, timeframe=timeframe)
    cached = market_data.cached_window(symbol, timeframe, needed, now=now, complete=known)
    if cached is not None:
        candles, complete = cached
    else:
        complete = None
        try:
            complete = market_data.refresh(symbol, timeframe, now=now, complete=known).complete
        except ExchangeError as exc:
            # Carry on with what is cached: the risk engine blocks on a newest
            # candle that has grown too old (STALE_DATA).
            record("trading.market_data.failed", actor, str(exc), inputs={"symbol": symbol,
                   "timeframe": timeframe, "error": type(exc).__name__}, bot=bot)
            if isinstance(exc, IpBanned):
                live.pause_on_repeated_bans()
        try:
            candles = market_data.window(symbol, timeframe, needed, now=now)
        except ExchangeError as exc:
            return _exchange_skip(bot, now, actor, exc, "market data", config)
    if len(candles) == 0:
        return _skip(bot, now, actor, "no_data", f"no closed {symbol} {timeframe} candles yet", config)
    last = len(candles) - 1
    # Indicators over a series with missing candles are wrong: trade on none.
    holes = bool((np.diff(candles.open_time) != timeframes.seconds(timeframe) * 1000).any())
    candle_ms = int(candles.open_time[last])
    candle_time = timeframes.from_ms(candle_ms)
    if bot.last_candle_time is not None and candle_time <= bot.last_candle_time:
        return _skip(
            bot, now, actor, "no_new_candle",
            f"candle {candle_time:%Y-%m-%d %H:%M} already handled", config, candle_time,
        )

    # 2. signal
    series = strategy.signals(candles, params)
    signal = strategy.explain(candles, params, series, last)

    # 3. decision
    try:
        price = market_data.current_price(symbol, timeframe, now=now)
        rules = market_data.market_rules(symbol)
    except ExchangeError as exc:
        return _exchange_skip(bot, now, actor, exc, "market data", config, candle_time)
    system_state = state.current().state
    positions = _positions(bot)
    position = next((p for p in positions if p.bot_id == bot.pk and p.symbol == symbol), None)
    others = [p for p in positions if p.bot_id != bot.pk]
    view = portfolio_view(bot=bot, position=position, others=others, price=price, now=now)
    risk_signal = RiskSignal(
        action=signal.action,
        price=price,
        candle_open_time=candle_time,
        timeframe_seconds=timeframes.seconds(timeframe),
        system_state=system_state,
        data_stale=holes,
        atr=_atr(candles, limits.atr_period) if limits.atr_scaling else None,
    )
    decision = evaluate(risk_signal, view, limits, rules, now, fee_bps=cost_bps())
    if decision.emergency_stop and system_state != SystemState.State.EMERGENCY_STOP:
        # Another path may have stopped the system first; the refusal is recorded.
        with contextlib.suppress(state.StateError):
            state.emergency_stop(
                actor=Actor.system(),
                reason=f"{bot.name}: drawdown from peak beyond {limits.max_drawdown_pct:.2%}",
            )

    inputs = {
        "candle_time": candle_time,
        "now": now,
        "config_version": config.version,
        "mode": config.mode,
        "strategy": config.strategy,
        "params": params,
        "signal": signal.action.name,
        "signal_reason": signal.reason,
        "indicators": _finite(signal.indicators),
        "price": price,
        "system_state": system_state,
        "data_holes": holes,
        "portfolio": {"cash": view.cash, "position_qty": view.position_qty, "equity": view.equity},
    }
    if reconciled is not None:
        inputs["reconciliation"] = reconciled.as_dict()
    close = to_decimal(candles.close[last])

    # 4-6. execution, persistence and audit. Paper: one transaction. Live: the
    # order row is committed first, sent outside any transaction, and its
    # result applied (with the snapshot and the cycle's record) in a second one.
    pending: Order | None = None
    try:
        with transaction.atomic():
            held: list[Position] | None = None
            if is_live:
                # Reconciliation, or an emergency stop's cancels, may book a live
                # bot's fills outside its lease: read it again under the row lock.
                locked = _lock(bot)
                if locked.last_candle_time is not None and candle_time <= locked.last_candle_time:
                    raise _AlreadyHandled
            else:
                # A paper bot's cash, positions and summary change only in its own
                # cycles, which the lease serializes, so what was read above still
                # holds. Claiming the candle takes the row lock and gives the
                # lease back when this transaction commits.
                _claim_candle(bot, candle_time, lease)
                locked = bot
                held = [p for p in positions if p.bot_id == bot.pk]
            order = None
            refusal = None
            if decision.verdict == "ALLOW" and is_live:
                side = decision.side
                assert side in ("BUY", "SELL")
                refusal = live.gate_refusal(bot=locked, config=config, side=side, quantity=decision.quantity,
                                            price=price, system_state=system_state)
                if refusal is not None:
                    live.refusal_record(refusal, actor=actor, bot=locked, inputs={
                        **inputs, "side": side, "quantity": decision.quantity})
                else:
                    # Stored (unique client order id) and the candle claimed in
                    # one commit: a duplicated cycle can no longer send it again.
                    pending = live.order_store(
                        bot=locked, config=config, client_order_id=client_order_id(locked, candle_ms, side),
                        side=side, quantity=decision.quantity, candle_time=candle_time, reason=signal.reason,
                        created_at=now,
                    )
                    Bot.objects.filter(pk=locked.pk).update(last_candle_time=candle_time)
            elif decision.verdict == "ALLOW":
                order = _execute_paper(
                    bot=locked, config=config, decision=decision, candle_ms=candle_ms,
                    candle_time=candle_time, price=price, rules=rules, now=now, actor=actor,
                    signal=signal, position=position,
                )
            elif decision.verdict == "BLOCK":
                record(
                    "trading.risk.blocked",
                    actor,
                    "; ".join(r.message for r in decision.reasons),
                    inputs=inputs,
                    result={"verdict": "BLOCK", "reasons": list(decision.blocking_codes),
                            "info": [r.code for r in decision.reasons if not r.blocking]},
                    bot=locked,
                )
            if pending is None:
                run = _complete(bot=locked, config=config, now=now, actor=actor, candle_time=candle_time,
                                signal=signal, decision=decision, inputs=inputs, mark=close, order=order,
                                refusal=refusal, candles=complete,
                                positions=held if order is None else None, claimed=held is not None)
    except _AlreadyHandled:
        return _skip(bot, now, actor, "no_new_candle",
                     f"candle {candle_time:%Y-%m-%d %H:%M} already handled", config, candle_time)
    except _LeaseLost:
        return _skip(bot, now, actor, "locked", "the lease ran out and another cycle of this bot took it",
                     config, candle_time)
    except IntegrityError:
        # The client order id exists: a duplicated cycle for this candle lost the race.
        return _skip(bot, now, actor, "duplicate_order",
                     f"an order for candle {candle_time:%Y-%m-%d %H:%M} already exists", config, candle_time)
    if not is_live:
        lease.mark_released()
    failpoints.hit("cycle.after_commit")
    if pending is None:
        return CycleOutcome("done", run.detail, run, order, decision, signal)

    sent = live.order_send(order=pending, actor=actor, price=price)
    if isinstance(sent.error, IpBanned):
        live.pause_on_repeated_bans()
    with transaction.atomic():
        locked = _lock(bot)
        run = _complete(bot=locked, config=config, now=now, actor=actor, candle_time=candle_time, signal=signal,
                        decision=decision, inputs=inputs, mark=close, order=sent.order, refusal=sent.refusal,
                        error=sent.error, candles=complete)
    return CycleOutcome("done", run.detail, run, sent.order, decision, signal)


def _positions(bot: Bot) -> list[Position]:
    """The bot's own positions and every other bot's open ones, ordered as
    ``Position.Meta.ordering`` (bot name, symbol) orders them: what
    ``Position.objects.filter(Q(bot=bot) | Q(quantity__gt=0))`` gives.

    Written out (Django's documented ``raw()``, which converts each column as
    the ORM does): building this query through the ORM costs a cycle several
    times what running it does.
    """
    return list(Position.objects.raw(_positions_sql(connection.vendor), [bot.pk, ZERO]))


@functools.cache
def _positions_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    pos, bots = quote(Position._meta.db_table), quote(Bot._meta.db_table)
    return (
        f"SELECT {pos}.* FROM {pos} INNER JOIN {bots} ON {pos}.{quote('bot_id')} = {bots}.{quote('id')} "
        f"WHERE {pos}.{quote('bot_id')} = %s OR {pos}.{quote('quantity')} > %s "
        f"ORDER BY {bots}.{quote('name')} ASC, {pos}.{quote('symbol')} ASC"
    )


def _claim_candle(bot: Bot, candle_time: datetime, lease: Lease) -> None:
    """Mark ``candle_time`` handled by this cycle and give the lease back on
    commit, in one conditional update (which also locks the bot's row).

    Raises :class:`_AlreadyHandled` when the candle already is, and
    :class:`_LeaseLost` when this cycle outlived its lease and another took it.
    """
    # ``bot`` was read under the lease, before ``candle_time``: unchanged since,
    # its candle is older than this one.
    claimed = Bot.objects.filter(lease.ours(), last_candle_time=bot.last_candle_time).update(
        last_candle_time=candle_time, last_cycle_at=timezone.now(), **lease.release_fields(),
    )
    if claimed != 1:
        handled = Bot.objects.filter(pk=bot.pk).values_list("last_candle_time", flat=True).get()
        if handled is not None and candle_time <= handled:
            raise _AlreadyHandled
        raise _LeaseLost


def _lock(bot: Bot) -> Bot:
    """The bot's row, locked for the rest of the transaction, with its summary."""
    return Bot.objects.select_for_update(of=("self",)).select_related("summary").get(pk=bot.pk)


def _complete(
    *, bot: Bot, config: BotConfig, now: datetime, actor: Actor, candle_time: datetime, signal: Signal,
    decision: Decision, inputs: dict[str, Any], mark: Decimal, order: Order | None,
    refusal: live.Refusal | None = None, error: ExchangeError | None = None,
    candles: tuple[datetime, datetime] | None = None, positions: list[Position] | None = None,
    claimed: bool = False,
) -> CycleRun:
    """Snapshot, the cycle's record and its event (inside the caller's transaction,
    on the locked ``bot`` whose cash is as of after any fill). ``candles``: the
    range of the series this cycle found all cached; ``positions``: the bot's
    positions when known to be current (else read); ``claimed``: the candle is
    already marked handled (:func:`_claim_candle`)."""
    snapshot = _snapshot(bot=bot, symbol=config.symbol, mark=mark, now=now, timeframe=config.timeframe,
                         candles=candles, positions=positions)
    detail = f"equity {snapshot.equity}"
    if refusal is not None:
        detail += f"; live order refused by {refusal.gate}"
    run = CycleRun.objects.create(
        bot=bot,
        config=config,
        started_at=now,
        actor=actor.name,
        candle_time=candle_time,
        status=CycleRun.Status.DONE,
        signal=signal.action.name,
        signal_reason=signal.reason,
        indicators=_finite(signal.indicators),
        decision=decision.verdict,
        decision_quantity=decision.quantity,
        decision_reasons=[
            {"code": r.code, "message": r.message, "blocking": r.blocking} for r in decision.reasons
        ],
        detail=detail,
    )
    if not claimed:
        Bot.objects.filter(pk=bot.pk).update(last_candle_time=candle_time, last_cycle_at=timezone.now())
    record(
        "trading.cycle.completed",
        actor,
        f"{signal.action.name} → {decision.verdict}"
        + (f" {order.side} {order.filled_quantity} @ {order.avg_fill_price}" if order else "")
        + (f" ({order.status}, live)" if order is not None and order.mode == Mode.LIVE else "")
        + (f"; refused by {refusal.gate}" if refusal is not None else ""),
        inputs=inputs,
        result={
            "verdict": decision.verdict,
            "quantity": decision.quantity,
            "reasons": [r.code for r in decision.reasons],
            "blocking": list(decision.blocking_codes),
            "client_order_id": order.client_order_id if order else None,
            "order_status": order.status if order else None,
            "refused_gate": str(refusal.gate) if refusal is not None else None,
            "exchange_error": error.as_dict() if error is not None else None,
            "equity": snapshot.equity,
        },
        bot=bot,
    )
    return run


class _AlreadyHandled(Exception):
    pass


class _LeaseLost(Exception):
    pass


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """Indicator values for JSON: NaN during warm-up becomes null."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        try:
            out[key] = None if value != value else round(float(value), 8)  # NaN != NaN
        except (TypeError, ValueError):
            out[key] = value
    return out


def _atr(candles: Candles, period: int) -> Decimal | None:
    if len(candles) < period + 1:
        return None
    high, low, close = candles.high, candles.low, candles.close
    prev_close = close[:-1]
    tr = np.maximum.reduce(
        [high[1:] - low[1:], np.abs(high[1:] - prev_close), np.abs(low[1:] - prev_close)]
    )
    return to_decimal(float(tr[-period:].mean()))


def _position_state(position: Position | None) -> PositionState | None:
    """The stored position as the portfolio's state (lifetime realised PnL and
    fees carry over when the position is flat)."""
    if position is None:
        return None
    return PositionState(
        quantity=position.quantity,
        cost_basis=position.cost_basis,
        realized_pnl=position.realized_pnl,
        fees_paid=position.fees_paid,
        opened_at=position.opened_at,
    )


def portfolio_view(
    *, bot: Bot, position: Position | None, others: list[Position], price: Decimal, now: datetime,
) -> PortfolioView:
    """What the risk engine sees of ``bot`` at ``price``: its cash and position,
    its peak and day-start equity, the other bots' exposure (their open
    ``others`` positions) and its recent losing streak."""
    qty = position.quantity if position else ZERO
    cost = position.cost_basis if position else ZERO
    equity = bot.cash + qty * price
    summary = summary_of(bot) or summary_rebuild(bot)
    other_exposure = sum(
        (p.quantity * (p.last_price or p.avg_entry_price) for p in others if p.quantity > 0), ZERO,
    )
    streak = loss_streak(summary)
    return PortfolioView(
        cash=bot.cash,
        position_qty=qty,
        avg_entry_price=(cost / qty) if qty else ZERO,
        equity=equity,
        peak_equity=max(bot.peak_equity, equity),
        day_start_equity=day_start_equity(summary, bot=bot, now=now),
        other_exposure=other_exposure,
        consecutive_losses=streak.consecutive_losses,
        last_loss_candle_time=streak.last_loss_candle_time,
    )


def _execute_paper(
    *, bot: Bot, config: BotConfig, decision: Decision, candle_ms: int, candle_time: datetime,
    price: Decimal, rules: Any, now: datetime, actor: Actor, signal: Signal, position: Position | None,
) -> Order:
    side = decision.side
    assert side in ("BUY", "SELL")
    coid = client_order_id(bot, candle_ms, side)
    request = OrderRequest(
        client_order_id=coid, symbol=config.symbol, side=side, order_type="MARKET",
        quantity=decision.quantity, limit_price=None,
    )
    # Stored first (unique client order id): a duplicate cycle fails here.
    order = Order.objects.create(
        bot=bot, config=config, client_order_id=coid, symbol=config.symbol, side=side,
        order_type=Order.Type.MARKET, mode=config.mode, quantity=decision.quantity,
        candle_time=candle_time, reason=signal.reason, created_at=now,
    )
    result: ExecutionResult = paper_fill_model().fill_market(request, price=price, at=now, rules=rules)
    _apply_result(bot=bot, order=order, result=result, actor=actor, position=position)
    return order


def _apply_result(
    *, bot: Bot, order: Order, result: ExecutionResult, actor: Actor, position: Position | None,
) -> None:
    """Apply an execution result to the order, its fills, the position and cash."""
    portfolio = Portfolio(cash=bot.cash, positions={})
    held = _position_state(position)
    if held is not None:
        portfolio.positions[order.symbol] = held
    filled_qty = ZERO
    notional = ZERO
    fees = ZERO
    for fill in result.fills:
        realized = portfolio.apply_fill(
            order.symbol, order.side, fill.quantity, fill.price, fill.fee, fill.filled_at
        )
        stored = Fill.objects.create(
            order=order, bot=bot, symbol=order.symbol, side=order.side, price=fill.price,
            quantity=fill.quantity, quote_quantity=fill.quote_quantity, fee=fill.fee,
            fee_asset=fill.fee_asset, trade_id=fill.trade_id, filled_at=fill.filled_at,
            realized_pnl=realized if order.side == "SELL" else None,
        )
        if stored.realized_pnl is not None and (summary := summary_of(bot)) is not None:
            note_sell(summary, stored, order.candle_time)
        filled_qty += fill.quantity
        notional += fill.quote_quantity
        fees += fill.fee
    status = {
        "FILLED": Order.Status.FILLED,
        "PARTIALLY_FILLED": Order.Status.PARTIALLY_FILLED,
        "OPEN": Order.Status.OPEN,
        "REJECTED": Order.Status.REJECTED,
    }[result.status]
    order.status = status
    order.status_reason = result.reason
    order.filled_quantity = filled_qty
    order.fee_total = fees
    order.avg_fill_price = (notional / filled_qty).quantize(Decimal("0.00000001")) if filled_qty else None
    order.save(update_fields=["status", "status_reason", "filled_quantity", "fee_total",
                              "avg_fill_price", "updated_at"])
    held = portfolio.position(order.symbol)
    pos, _ = Position.objects.get_or_create(bot=bot, symbol=order.symbol)
    pos.quantity = held.quantity
    pos.cost_basis = held.cost_basis
    pos.avg_entry_price = (
        (held.cost_basis / held.quantity).quantize(Decimal("0.00000001")) if held.quantity else ZERO
    )
    pos.realized_pnl = held.realized_pnl
    pos.fees_paid = held.fees_paid
    pos.opened_at = held.opened_at
    pos.save()
    Bot.objects.filter(pk=bot.pk).update(cash=portfolio.cash)
    bot.cash = portfolio.cash
    record(
        f"trading.order.{status.lower()}",
        actor,
        f"{order.side} {filled_qty} {order.symbol} @ {order.avg_fill_price} ({status})",
        inputs={"client_order_id": order.client_order_id, "quantity": order.quantity,
                "candle_time": order.candle_time, "mode": order.mode},
        result={"status": status, "filled_quantity": filled_qty, "avg_price": order.avg_fill_price,
                "fee": fees, "cash": portfolio.cash,
                "fills": [{"trade_id": f.trade_id, "price": f.price, "quantity": f.quantity,
                           "fee": f.fee} for f in result.fills]},
        bot=bot,
    )


def _snapshot(
    *, bot: Bot, symbol: str, mark: Decimal, now: datetime, timeframe: str,
    candles: tuple[datetime, datetime] | None, positions: list[Position] | None,
) -> EquitySnapshot:
    """Mark the bot's positions, write its equity and metrics snapshots, and
    move its summary on (saved here).

    ``bot`` is the row locked by the cycle (with its summary), its cash as of
    after the fill; ``positions`` its positions when the caller knows them.
    """
    if positions is None:
        positions = list(Position.objects.filter(bot=bot))
    value = ZERO
    unrealized = ZERO
    realized = ZERO
    fees = ZERO
    for pos in positions:
        if pos.symbol == symbol:
            pos.last_price = mark
            pos.save(update_fields=["last_price", "updated_at"])
        if pos.quantity:
            price = pos.last_price or pos.avg_entry_price
            value += pos.quantity * price
            unrealized += pos.quantity * price - pos.cost_basis
        realized += pos.realized_pnl
        fees += pos.fees_paid
    equity = bot.cash + value
    peak = max(bot.peak_equity, equity)
    if peak != bot.peak_equity:
        Bot.objects.filter(pk=bot.pk).update(peak_equity=peak)
        bot.peak_equity = peak
    drawdown = ((peak - equity) / peak).quantize(Decimal("0.00000001")) if peak > 0 else ZERO
    snapshot = EquitySnapshot.objects.create(
        bot=bot, taken_at=now, cash=bot.cash, positions_value=value, equity=equity,
        realized_pnl=realized, unrealized_pnl=unrealized, fees_paid=fees, peak_equity=peak,
        drawdown=drawdown,
    )
    summary = summary_of(bot)
    adding = summary is None
    if summary is None:
        summary = summary_rebuild(bot)
    else:
        note_snapshot(summary, snapshot)
    note_candles(summary, symbol=symbol, timeframe=timeframe, complete=candles)
    summary.save(force_insert=adding)
    _metrics(bot=bot, summary=summary, now=now, timeframe=timeframe)
    return snapshot


def _metrics(*, bot: Bot, summary: BotSummary, now: datetime, timeframe: str) -> MetricsSnapshot:
    """Metrics over the summary's window of recent snapshots (and the initial
    cash before them), all closed trades, and the deepest drawdown ever."""
    # Floats are fine here: metrics are ratios computed in floats anyway.
    curve, in_market = equity_window(summary)
    equity = np.concatenate(([float(bot.initial_cash)], curve))
    m = compute_metrics(equity, trade_tally(summary), timeframes.seconds(timeframe), in_market)
    # The window bounds the cost of a cycle; the deepest drawdown ever is kept
    # exactly by the summary.
    return MetricsSnapshot.objects.create(
        bot=bot, taken_at=now, total_return=m.total_return,
        max_drawdown=max(m.max_drawdown, summary.max_drawdown),
        sharpe=m.sharpe, sortino=m.sortino, win_rate=m.win_rate, profit_factor=m.profit_factor,
        avg_trade=m.avg_trade, exposure=m.exposure, trade_count=m.trade_count,
    )
