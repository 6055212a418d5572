"""Telegram notifications: which events the operators hear about, in what words,
and the Celery tasks that deliver them without ever holding up a trading cycle.

:func:`on_event` is subscribed to the audit log (``TradingConfig.ready``): it
runs after each event commits, decides from the event alone whether it
matters, and enqueues one :func:`notify_event` task. That task renders the
message and enqueues one :func:`deliver` per allowed chat; each delivery
retries on its own, a bounded number of times, then gives up with a log line.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from approvals.models import Approval
from audit.models import Event
from trading import reports
from trading.models import Bot, Order

if TYPE_CHECKING:  # python-telegram-bot is imported where a message is sent, not at start-up
    from telegram.error import RetryAfter, TelegramError

logger = logging.getLogger(__name__)

FILL_TYPES = {"trading.order.filled", "trading.order.partially_filled"}
RISK_BLOCKED = "trading.risk.blocked"
NOTIFY_TYPES = FILL_TYPES | {
    "trading.order.rejected",
    "system.state.changed",
    RISK_BLOCKED,
    "approvals.approval.proposed",
    "approvals.approval.expired",
    "approvals.approval.applied",
    "approvals.approval.failed",
    "approvals.approval.rejected",
}
# Risk blocks worth a message (the others, e.g. a cooldown, happen every few cycles).
IMPORTANT_BLOCKS = {"DAILY_LOSS_LIMIT", "MAX_DRAWDOWN"}

# Delivery: attempts = 1 + MAX_RETRIES, waiting 2, 4, 8 s between them (or what
# Telegram's 429 asks, capped). Every countdown stays well below the broker's
# visibility timeout, so a waiting retry is never delivered a second time.
MAX_RETRIES = 3
BACKOFF_SECONDS = 2
MAX_COUNTDOWN = 300
# Publishing to the broker from the subscriber: a broker outage costs the caller at most ~1 s.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5}

DAILY_SUMMARY_TASK = "trading.notifications.daily_summary"
DAILY_SUMMARY_NAME = "telegram: daily summary"


def enabled() -> bool:
    return bool(settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_ALLOWED_CHATS)


def recipients() -> list[int]:
    """Every allowed chat gets notifications, whatever its role."""
    return sorted(settings.TELEGRAM_ALLOWED_CHATS)


def is_important_block(event: Event) -> bool:
    reasons = (event.result or {}).get("reasons") or []
    return bool(IMPORTANT_BLOCKS.intersection(reasons))


def wants(event: Event) -> bool:
    if event.type not in NOTIFY_TYPES:
        return False
    return event.type != RISK_BLOCKED or is_important_block(event)


def on_event(event: Event) -> None:
    """Audit subscriber: enqueue a notification for an event that matters.

    Runs after the event's transaction commits, in the caller's thread (a
    trading cycle, a web request): it touches neither the database nor Telegram,
    and swallows its own failures.
    """
    try:
        if not enabled() or not wants(event):
            return
        notify_event.apply_async(args=[event.pk], retry=True, retry_policy=PUBLISH_RETRY)
    except Exception as exc:
        logger.warning("telegram: could not enqueue the notification of event #%s: %r", event.seq, exc)


# --- messages -----------------------------------------------------------------
def _bot_name(event: Event) -> str:
    if event.bot_id is None:
        return "system"
    name = Bot.objects.filter(pk=event.bot_id).values_list("name", flat=True).first()
    return name or f"bot #{event.bot_id}"


def _moment(value: Any) -> str:
    parsed = parse_datetime(value) if isinstance(value, str) else value
    return reports.when(parsed) if parsed else "?"


EXPIRY_CONSEQUENCE = {
    Approval.OnExpiry.NONE: "nothing else changes",
    Approval.OnExpiry.PAUSE: "the system is paused",
    Approval.OnExpiry.EMERGENCY_STOP: "the system goes to an emergency stop",
}


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None


def _fill_text(event: Event, bot: str) -> str:
    inputs, result = event.inputs or {}, event.result or {}
    order = Order.objects.filter(client_order_id=inputs.get("client_order_id")).only("side", "symbol").first()
    if order is None:
        return f"Fill — {bot}: {event.message}"
    partly = " (partly filled)" if result.get("status") == Order.Status.PARTIALLY_FILLED else ""
    return (
        f"Fill — {bot}: {order.side} {reports.quantity(_decimal(result.get('filled_quantity')))} {order.symbol} "
        f"@ {reports.money(_decimal(result.get('avg_price')))}{partly}, {inputs.get('mode', 'paper')}. "
        f"Fee {reports.money(_decimal(result.get('fee')))}, cash {reports.money(_decimal(result.get('cash')))}."
    )


def render(event: Event) -> tuple[str, list[list[tuple[str, str]]]]:
    """The text of the notification of ``event`` and its inline buttons (rows)."""
    from trading.adapters.telegram import approval_buttons

    inputs, result = event.inputs or {}, event.result or {}
    bot = _bot_name(event)
    if event.type in FILL_TYPES:
        return _fill_text(event, bot), []
    if event.type == "trading.order.rejected":
        return f"Order rejected — {bot}: {event.message}", []
    if event.type == "system.state.changed":
        head = "EMERGENCY STOP" if result.get("state") == "EMERGENCY_STOP" else "System state"
        text = f"{head}: {inputs.get('from')} → {inputs.get('to')} by {event.actor}"
        if inputs.get("reason"):
            text += f"\nReason: {inputs['reason']}"
        if result.get("canceled_orders"):
            text += f"\nCanceled orders: {len(result['canceled_orders'])}"
        return text, []
    if event.type == RISK_BLOCKED:
        return f"Risk block — {bot}: {event.message}", []
    approval_id = inputs.get("approval_id")
    if event.type == "approvals.approval.proposed":
        lines = [f"New proposal #{approval_id} for {bot} ({inputs.get('kind')}) by {event.actor}:"]
        lines += [f"• {c['path']}: {c['from']} → {c['to']}" for c in result.get("diff", [])]
        if inputs.get("rationale"):
            lines.append(f"Why: {inputs['rationale']}")
        policy = inputs.get("on_expiry") or Approval.OnExpiry.NONE
        lines.append(f"Expires {_moment(inputs.get('expires_at'))}; if undecided, "
                     f"{EXPIRY_CONSEQUENCE.get(policy, policy)}.")
        return "\n".join(lines), [list(row) for row in approval_buttons(int(approval_id))]
    if event.type == "approvals.approval.expired":
        policy = inputs.get("on_expiry") or Approval.OnExpiry.NONE
        return (f"Proposal #{approval_id} for {bot} expired undecided: "
                f"{EXPIRY_CONSEQUENCE.get(policy, policy)}."), []
    if event.type == "approvals.approval.applied":
        return f"Proposal #{approval_id} for {bot} applied as v{result.get('version')} (by {event.actor}).", []
    if event.type == "approvals.approval.failed":
        return f"Proposal #{approval_id} for {bot} approved but not applied: {event.message}", []
    return f"Proposal #{approval_id} for {bot} rejected by {event.actor}: {event.message}", []


def _already_told_today(event: Event) -> bool:
    """A daily-loss block repeats every cycle until midnight: tell it once a day per bot."""
    day_start = event.created_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    codes = IMPORTANT_BLOCKS.intersection(event.result.get("reasons") or [])
    earlier = Event.objects.filter(
        type=RISK_BLOCKED, bot_id=event.bot_id, created_at__gte=day_start, seq__lt=event.seq
    ).values_list("result", flat=True)
    return any(codes.intersection((r or {}).get("reasons") or []) for r in earlier)


# --- tasks --------------------------------------------------------------------
@shared_task(acks_late=True, ignore_result=True)
def notify_event(event_id: int) -> int:
    """Render the notification of one event and enqueue its delivery to every chat."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None or not enabled() or not wants(event):
        return 0
    if event.type == RISK_BLOCKED and _already_told_today(event):
        return 0
    text, buttons = render(event)
    return fan_out(text, buttons)


def fan_out(text: str, buttons: list[list[tuple[str, str]]] | None = None) -> int:
    chats = recipients()
    for chat_id in chats:
        deliver.apply_async(args=[chat_id, text, buttons or []])
    return len(chats)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def deliver(self, chat_id: int, text: str, buttons: list[list[tuple[str, str]]] | None = None) -> bool:  # type: ignore[no-untyped-def]
    """Send one message to one chat; retry what may pass later, give up on the rest."""
    from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter, TelegramError

    from trading.adapters import telegram

    # Errors that another attempt cannot fix (a bad message, a bot blocked by the user, a bad token).
    permanent = (BadRequest, Forbidden, InvalidToken, ChatMigrated)
    try:
        telegram.send_message(chat_id=chat_id, text=text, buttons=buttons)
    except permanent as exc:
        logger.error("telegram: message to chat %s not delivered (%s: %s); not retried",
                     chat_id, type(exc).__name__, exc)
        return False
    except RetryAfter as exc:
        return _again(self, chat_id, exc, countdown=_retry_after_seconds(exc))
    except TelegramError as exc:  # network errors, timeouts, 5xx
        return _again(self, chat_id, exc, countdown=BACKOFF_SECONDS * 2 ** self.request.retries)
    return True


def _retry_after_seconds(exc: RetryAfter) -> float:
    wait = exc.retry_after
    seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
    return max(seconds, 1.0)


def countdown_cap() -> float:
    """At most MAX_COUNTDOWN, and at most half the visibility timeout (if one is set lower)."""
    return max(1.0, min(float(MAX_COUNTDOWN), settings.CELERY_VISIBILITY_TIMEOUT / 2))


def _again(task: Any, chat_id: int, exc: TelegramError, *, countdown: float) -> bool:
    attempts = task.request.retries + 1
    if task.request.retries >= MAX_RETRIES:
        logger.error("telegram: gave up on a message to chat %s after %d attempts (%s: %s)",
                     chat_id, attempts, type(exc).__name__, exc)
        return False
    countdown = min(countdown, countdown_cap())
    logger.warning("telegram: message to chat %s failed (attempt %d, %s: %s); retrying in %.0f s",
                   chat_id, attempts, type(exc).__name__, exc, countdown)
    raise task.retry(countdown=countdown, max_retries=MAX_RETRIES)


@shared_task(acks_late=True, ignore_result=True)
def daily_summary() -> int:
    """The summary of the UTC day that just ended, to every chat (beat: 00:05 UTC)."""
    if not enabled():
        return 0
    now = timezone.now().astimezone(UTC)
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return fan_out(reports.daily_summary_text(day_end=day_end))


def ensure_daily_summary_task() -> None:
    """The daily summary's beat schedule (idempotent; called with the other system tasks)."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="5", hour="0", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=DAILY_SUMMARY_NAME,
        defaults={"task": DAILY_SUMMARY_TASK, "crontab": schedule, "interval": None, "enabled": True},
    )


def connect() -> None:
    from audit.services import subscribe

    subscribe(on_event)

