"""Reconciliation of live bots with the exchange: orders, fills and balances.

Runs at the start of every live cycle (under the cycle's lease), when a worker
starts (``worker_ready`` enqueues :func:`trading.tasks.reconcile_live`), when
``manage.py demo`` starts, and by hand (``manage.py reconcile [--bot NAME]``).

For each bot: every locally open live order (NEW, OPEN, PARTIALLY_FILLED,
UNKNOWN) is re-read from the exchange and its fills applied (a fill is booked
once: fills are unique per order and trade id); in EMERGENCY_STOP the orders
still open are canceled on the exchange; then the exchange's balance of the
bot's base asset is compared with what the live bots' positions hold. A
difference of a step size or more, beyond what an operator has already
accepted, is recorded as a :class:`BalanceMismatch` and blocks trading on the
bot until an operator acknowledges it (:func:`mismatch_acknowledge`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor, Role
from audit.services import record
from trading.adapters.errors import ExchangeError, IpBanned
from trading.execution import live
from trading.lease import bot_lease
from trading.models import ZERO, BalanceMismatch, Bot, BotConfig, Mode, Order, Position, SystemState
from tradingsite.errors import ServiceError

BLOCK_PREFIX = "balance mismatch"


@dataclass
class ReconcileReport:
    bot: str
    orders_checked: int = 0
    orders_changed: int = 0
    fills_applied: int = 0
    canceled: list[str] = field(default_factory=list)
    balance_checked: bool = False
    mismatch_id: int | None = None
    blocked: bool = False
    skipped: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def is_live(bot: Bot, config: BotConfig | None) -> bool:
    """Whether the bot has anything on the exchange to reconcile."""
    if config is not None and config.mode == Mode.LIVE:
        return True
    return Order.objects.filter(bot=bot, mode=Mode.LIVE, status__in=Order.OPEN_STATUSES).exists()


def bot_reconcile(*, bot: Bot, actor: Actor, engine: live.LiveExecutionEngine | None = None) -> ReconcileReport:
    """Reconcile one bot with the exchange. The caller holds the bot's lease.

    Raises :class:`ExchangeError` when the exchange could not be read; what was
    reconciled before that stays applied.
    """
    engine = engine or live.LiveExecutionEngine()
    report = ReconcileReport(bot=bot.name)
    _orders(bot, actor, engine, report)
    from trading import state

    if state.current().state == SystemState.State.EMERGENCY_STOP:
        report.canceled = live.cancel_open_orders(
            actor=actor, reason="emergency stop (reconciliation)", bot=bot, engine=engine
        )
    config = BotConfig.objects.filter(bot=bot, is_active=True).first()
    # Balances are compared only once every live order's fills are known: an
    # order still UNKNOWN (or in flight) may hold fills not booked yet, and
    # that is not a mismatch. The next reconciliation compares again.
    unresolved = Order.objects.filter(
        mode=Mode.LIVE, status__in=(Order.Status.NEW, Order.Status.UNKNOWN), sent_at__isnull=False
    ).exists()
    if config is not None and config.mode == Mode.LIVE and not unresolved:
        mismatch = _balance_check(bot, config, actor, engine, report)
        report.balance_checked = True
        report.mismatch_id = mismatch.pk if mismatch else None
    bot.refresh_from_db(fields=["trading_blocked_reason", "cash"])
    report.blocked = bool(bot.trading_blocked_reason)
    return report


def _orders(bot: Bot, actor: Actor, engine: live.LiveExecutionEngine, report: ReconcileReport) -> None:
    for order in live.open_live_orders(bot):
        before = (order.status, order.filled_quantity)
        fills_before = order.fills.count()
        order = live.order_reconcile(order=order, actor=actor, engine=engine)
        report.orders_checked += 1
        report.orders_changed += (order.status, order.filled_quantity) != before
        report.fills_applied += order.fills.count() - fills_before


def _balance_check(
    bot: Bot, config: BotConfig, actor: Actor, engine: live.LiveExecutionEngine, report: ReconcileReport
) -> BalanceMismatch | None:
    rules = engine.rules(config.symbol)
    asset = rules.base_asset
    exchange_qty, local_qty = _holdings(asset, engine)
    if not _agrees(bot, asset, exchange_qty - local_qty, rules.step_size) and any(
        o.status in live.ON_EXCHANGE for o in live.open_live_orders(bot)
    ):
        # A resting order may have filled between reading it and the balance:
        # read both once more before calling it a mismatch.
        _orders(bot, actor, engine, report)
        exchange_qty, local_qty = _holdings(asset, engine)
    difference = exchange_qty - local_qty
    if _agrees(bot, asset, difference, rules.step_size):
        return None
    with transaction.atomic():
        locked = Bot.objects.select_for_update().get(pk=bot.pk)
        already = BalanceMismatch.objects.filter(bot=locked, asset=asset, acknowledged_at__isnull=True).first()
        if already is not None:
            return already  # recorded and blocking already; not written again every cycle
        mismatch = BalanceMismatch.objects.create(
            bot=locked, asset=asset, exchange_quantity=exchange_qty, local_quantity=local_qty,
            difference=difference, accepted_difference=_accepted(bot, asset), tolerance=rules.step_size,
            detected_at=timezone.now(),
        )
        reason = (
            f"{BLOCK_PREFIX}: Binance holds {exchange_qty} {asset}, the live positions {local_qty} "
            f"(difference {difference}); an operator must acknowledge it"
        )
        Bot.objects.filter(pk=locked.pk).update(trading_blocked_reason=reason)
        record(
            "trading.balance.mismatch",
            actor,
            reason,
            inputs={"asset": asset, "symbol": config.symbol, "tolerance": rules.step_size,
                    "accepted_difference": mismatch.accepted_difference},
            result={"exchange_quantity": exchange_qty, "local_quantity": local_qty, "difference": difference,
                    "mismatch_id": mismatch.pk, "blocked": True},
            bot=locked,
        )
    return mismatch


def _holdings(asset: str, engine: live.LiveExecutionEngine) -> tuple[Decimal, Decimal]:
    """(the exchange's free + locked ``asset``, what the live bots' positions hold of it)."""
    balances = engine.adapter.balances()
    held = balances.get(asset)
    exchange_qty = held.total if held is not None else ZERO
    live_bots = BotConfig.objects.filter(is_active=True, mode=Mode.LIVE).values_list("bot_id", flat=True)
    local_qty = ZERO
    for symbol, quantity in Position.objects.filter(bot_id__in=live_bots).values_list("symbol", "quantity"):
        if quantity and engine.rules(symbol).base_asset == asset:
            local_qty += quantity
    return exchange_qty, local_qty


def _accepted(bot: Bot, asset: str) -> Decimal:
    """The difference an operator accepted last for this bot and asset (0 if none)."""
    accepted = (
        BalanceMismatch.objects.filter(bot=bot, asset=asset, acknowledged_at__isnull=False)
        .order_by("-acknowledged_at", "-id")
        .values_list("difference", flat=True)
        .first()
    )
    return accepted if accepted is not None else ZERO


def _agrees(bot: Bot, asset: str, difference: Decimal, step: Decimal) -> bool:
    off = abs(difference - _accepted(bot, asset))
    return off < step if step > 0 else off == 0


def live_bots() -> list[Bot]:
    """Bots whose active config is live, and bots with live orders still open."""
    ids = set(BotConfig.objects.filter(is_active=True, mode=Mode.LIVE).values_list("bot_id", flat=True))
    ids |= set(
        Order.objects.filter(mode=Mode.LIVE, status__in=Order.OPEN_STATUSES).values_list("bot_id", flat=True)
    )
    return list(Bot.objects.filter(pk__in=ids).order_by("name"))


def reconcile(*, actor: Actor, bot: Bot | None = None) -> list[ReconcileReport]:
    """Reconcile one bot or every live one, each under its lease (a busy bot is
    skipped: its running cycle reconciles it). Each run is recorded."""
    reports = []
    for target in [bot] if bot is not None else live_bots():
        with bot_lease(target) as held:
            if not held:
                report = ReconcileReport(bot=target.name, skipped="a cycle of this bot is running")
            elif not live.credentials_present():
                report = ReconcileReport(bot=target.name, error="no API credentials: the account cannot be read "
                                         "(BINANCE_API_KEY, BINANCE_API_SECRET)")
            else:
                try:
                    report = bot_reconcile(bot=target, actor=actor)
                except ExchangeError as exc:
                    report = ReconcileReport(bot=target.name, error=exc.message)
                    if isinstance(exc, IpBanned):
                        live.pause_on_repeated_bans()
        record(
            "trading.reconcile.failed" if report.error else "trading.reconcile.completed",
            actor,
            report.error or report.skipped or (
                f"{report.orders_checked} open order(s) checked, {report.orders_changed} changed, "
                f"{report.fills_applied} fill(s) applied" + ("; trading blocked" if report.blocked else "")
            ),
            inputs={"bot": target.name},
            result=report.as_dict(),
            bot=target,
        )
        reports.append(report)
    return reports


class MismatchError(ServiceError):
    http_status = 409
    code = "conflict"


class AcknowledgeNotAllowed(MismatchError):
    http_status = 403
    code = "role_not_allowed"


class NoteRequired(MismatchError):
    http_status = 400
    code = "note_required"


def mismatch_acknowledge(*, bot: Bot, actor: Actor, note: str) -> list[BalanceMismatch]:
    """An operator acknowledges the bot's balance mismatch: the difference it
    recorded is accepted from now on, and trading on the bot is unblocked."""
    note = (note or "").strip()
    if actor.role not in (Role.OPERATOR, Role.ADMIN):
        raise AcknowledgeNotAllowed(f"{actor.role.label} may not acknowledge a balance mismatch: needs operator")
    if not note:
        raise NoteRequired("say what was checked: a note is required", field_errors={"note": "required"})
    with transaction.atomic():
        locked = Bot.objects.select_for_update().get(pk=bot.pk)
        mismatches = list(BalanceMismatch.objects.filter(bot=locked, acknowledged_at__isnull=True).order_by("id"))
        if not mismatches and not locked.trading_blocked_reason:
            raise MismatchError(f"{locked.name} has no balance mismatch to acknowledge and is not blocked")
        now = timezone.now()
        BalanceMismatch.objects.filter(pk__in=[m.pk for m in mismatches]).update(
            acknowledged_at=now, acknowledged_by=actor.name, note=note
        )
        previous = locked.trading_blocked_reason
        Bot.objects.filter(pk=locked.pk).update(trading_blocked_reason="")
        record(
            "trading.balance.acknowledged",
            actor,
            f"{locked.name} unblocked: {note}",
            inputs={"note": note, "blocked_reason": previous},
            result={"mismatches": [{"id": m.pk, "asset": m.asset, "difference": m.difference} for m in mismatches],
                    "blocked": False},
            bot=locked,
        )
    for mismatch in mismatches:
        mismatch.refresh_from_db()
    bot.refresh_from_db(fields=["trading_blocked_reason"])
    return mismatches
