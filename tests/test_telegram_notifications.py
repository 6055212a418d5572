"""Telegram notifications: which events reach the chats, in what words, and how
delivery behaves when Telegram fails, is slow or limits us, without ever
holding up the change that caused the event.

Most tests run the Celery tasks eagerly (in process) against the fake Bot API;
the ones marked ``redis`` publish to the real Redis and show that the caller
returns before anything is sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from celery import Celery
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from approvals import services as approvals
from approvals.models import Approval
from audit.actors import Actor, Role
from audit.models import Event
from audit.services import record
from tests.conftest import eager_tasks
from tests.factories import BotConfigFactory, OrderFactory
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_fixtures import ADMIN, ALLOWED, OPERATOR, VIEWER, BotDriver
from trading import cycle, notifications, scheduling, state
from trading.adapters import telegram as adapter
from trading.market_data import ReplaySource
from trading.models import EquitySnapshot, Fill, Order, SystemState
from trading.timeframes import from_ms
from tradingsite.celery import app as celery_app

REDIS_URL = "redis://127.0.0.1:6379/0"
OPERATOR_ACTOR = Actor("operator", Role.OPERATOR)


@pytest.fixture
def eager(settings) -> Iterator[Celery]:  # type: ignore[no-untyped-def]
    """Celery tasks run in process, as soon as they are sent (retries at once);
    a task's error is the task's outcome, not the sender's exception."""
    with eager_tasks(settings, propagate=False):
        yield celery_app


def set_state(value: str) -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": value})


def texts_by_chat(fake: FakeTelegram) -> dict[int, list[str]]:
    sent: dict[int, list[str]] = {}
    for message in fake.sent():
        sent.setdefault(message["chat"]["id"], []).append(message["text"])
    return sent


def only_text(fake: FakeTelegram) -> str:
    """The one notification text, checked to have gone to every allowed chat."""
    sent = texts_by_chat(fake)
    assert sorted(sent) == sorted(ALLOWED)
    texts = {tuple(t) for t in sent.values()}
    assert len(texts) == 1, texts
    [[text]] = list(texts)
    return text


# --- which events, which words -------------------------------------------------------
@pytest.mark.django_db
def test_a_state_change_reaches_every_allowed_chat(
    telegram_config: FakeTelegram, eager: Celery, django_capture_on_commit_callbacks: Any
) -> None:
    set_state("RUNNING")
    with django_capture_on_commit_callbacks(execute=True):
        state.pause(actor=OPERATOR_ACTOR, reason="lunch")
    assert only_text(telegram_config) == "System state: RUNNING → PAUSED by operator\nReason: lunch"


@pytest.mark.django_db
def test_an_emergency_stop_says_so_and_counts_canceled_orders(
    telegram_config: FakeTelegram, eager: Celery, django_capture_on_commit_callbacks: Any
) -> None:
    set_state("RUNNING")
    OrderFactory(status=Order.Status.OPEN)
    with django_capture_on_commit_callbacks(execute=True):
        state.emergency_stop(actor=OPERATOR_ACTOR, reason="flash crash")
    assert only_text(telegram_config) == (
        "EMERGENCY STOP: RUNNING → EMERGENCY_STOP by operator\nReason: flash crash\nCanceled orders: 1"
    )


@pytest.mark.django_db
def test_a_partial_fill_is_notified_with_its_bot_and_order(
    telegram_config: FakeTelegram, eager: Celery, django_capture_on_commit_callbacks: Any
) -> None:
    bot = BotConfigFactory(bot__name="alpha").bot
    order = OrderFactory(bot=bot, side="SELL", quantity=Decimal("0.02"), status=Order.Status.PARTIALLY_FILLED)
    with django_capture_on_commit_callbacks(execute=True):
        # Recorded as the cycle records a fill (its message and amounts as 8-place Decimals).
        record("trading.order.partially_filled", Actor.scheduler(),
               "SELL 0.01000000 BTCUSDT @ 30000.50000000 (PARTIALLY_FILLED)",
               inputs={"client_order_id": order.client_order_id, "quantity": Decimal("0.02"), "mode": "paper"},
               result={"status": "PARTIALLY_FILLED", "filled_quantity": Decimal("0.01000000"),
                       "avg_price": Decimal("30000.50000000"), "fee": Decimal("0.30000500"),
                       "cash": Decimal("10299.70004500")}, bot=bot)
    assert only_text(telegram_config) == (
        "Fill — alpha: SELL 0.01 BTCUSDT @ 30,000.50 (partly filled), paper. Fee 0.30, cash 10,299.70."
    )


def first_fill_by_cycles(bot: Any, capture: Any) -> Order:
    """Run the real cycle over replayed candles, minute by minute, until it places an order."""
    series = ReplaySource().series("BTCUSDT", "1m")
    for i in range(300):
        with capture(execute=True):
            outcome = cycle.run_cycle(bot, from_ms(int(series.open_time[i + 1])), Actor.scheduler())
        if outcome.order is not None:
            return outcome.order
    raise AssertionError("300 minutes of BTC should hold an SMA 10/30 crossing")


@pytest.fixture
def replay_bot(settings: Any) -> Any:
    settings.MARKET_DATA = "replay"
    set_state("RUNNING")
    return BotConfigFactory(bot__name="alpha", symbol="BTCUSDT", timeframe="1m", strategy="sma_cross",
                            strategy_params={"fast": 10, "slow": 30}).bot


@pytest.mark.django_db
def test_a_fill_from_a_real_cycle_is_the_one_notification(
    telegram_config: FakeTelegram, eager: Celery, django_capture_on_commit_callbacks: Any, replay_bot: Any
) -> None:
    order = first_fill_by_cycles(replay_bot, django_capture_on_commit_callbacks)
    assert order.status == Order.Status.FILLED
    text = only_text(telegram_config)  # cycles, routine blocks and snapshots stay quiet
    price = f"{order.avg_fill_price:,.2f}"
    assert text.startswith(f"Fill — alpha: BUY {order.filled_quantity.normalize()} BTCUSDT @ {price}, paper. Fee ")


def risk_block(bot: Any, codes: list[str], message: str) -> Event:
    return record("trading.risk.blocked", Actor.scheduler(), message, inputs={"signal": "BUY"},
                  result={"verdict": "BLOCK", "reasons": codes}, bot=bot)


@pytest.mark.django_db
def test_a_daily_loss_block_is_told_once_a_day_per_bot(
    telegram_config: FakeTelegram, eager: Celery, django_capture_on_commit_callbacks: Any
) -> None:
    alpha = BotConfigFactory(bot__name="alpha").bot
    beta = BotConfigFactory(bot__name="beta").bot
    with django_capture_on_commit_callbacks(execute=True):
        risk_block(alpha, ["DAILY_LOSS_LIMIT"], "daily loss limit reached (-3.1% of 3%)")
    with django_capture_on_commit_callbacks(execute=True):
        risk_block(alpha, ["DAILY_LOSS_LIMIT"], "daily loss limit reached (-3.2% of 3%)")
    with django_capture_on_commit_callbacks(execute=True):
        risk_block(beta, ["DAILY_LOSS_LIMIT"], "daily loss limit reached (-3.0% of 3%)")
    assert texts_by_chat(telegram_config)[OPERATOR] == [
        "Risk block — alpha: daily loss limit reached (-3.1% of 3%)",
        "Risk block — beta: daily loss limit reached (-3.0% of 3%)",
    ]


@pytest.mark.django_db
def test_routine_risk_blocks_and_other_events_stay_quiet(
    telegram_config: FakeTelegram, eager: Celery, django_capture_on_commit_callbacks: Any
) -> None:
    bot = BotConfigFactory().bot
    set_state("EMERGENCY_STOP")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        risk_block(bot, ["COOLDOWN"], "cooling down after a loss")
        record("scheduler.enabled", OPERATOR_ACTOR, "scheduler switched on")
        with pytest.raises(state.StateError):
            state.pause(actor=OPERATOR_ACTOR)  # refused: system.state.refused
    assert len(callbacks) >= 3  # the subscriber did see them
    assert telegram_config.calls() == []


@pytest.mark.django_db
def test_nothing_is_enqueued_when_telegram_is_not_configured(
    settings: Any, telegram_fake: FakeTelegram, eager: Celery, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.TELEGRAM_BASE_URL = telegram_fake.base_url
    settings.TELEGRAM_ALLOWED_CHATS = dict(ALLOWED)
    set_state("RUNNING")
    with django_capture_on_commit_callbacks(execute=True):
        state.pause(actor=OPERATOR_ACTOR)
    assert telegram_fake.calls() == []


def pending_proposal(config: Any, *, on_expiry: str = Approval.OnExpiry.NONE, minutes: int = 60) -> Approval:
    return approvals.propose(bot=config.bot, kind=Approval.Kind.STRATEGY_PARAMS,
                             change={"strategy_params": {"fast": 12}}, proposer=Actor.advisor("rules"),
                             rationale="faster entries", on_expiry=on_expiry, ttl_minutes=minutes)


@pytest.mark.django_db
def test_a_new_proposal_comes_with_buttons_that_decide_it(
    telegram_bot: BotDriver, eager: Celery, django_capture_on_commit_callbacks: Any
) -> None:
    fake = telegram_bot.fake
    config = BotConfigFactory(bot__name="alpha", version=3)
    with django_capture_on_commit_callbacks(execute=True):
        approval = pending_proposal(config, on_expiry=Approval.OnExpiry.PAUSE)

    [message] = fake.sent(OPERATOR)
    assert message["text"].startswith(
        f"New proposal #{approval.pk} for alpha (strategy_params) by advisor:rules:\n"
        "• strategy_params.fast: 10 → 12\nWhy: faster entries\nExpires "
    )
    assert message["text"].endswith("; if undecided, the system is paused.")
    assert message["reply_markup"]["inline_keyboard"] == [[
        {"text": "Approve", "callback_data": f"approve:{approval.pk}"},
        {"text": "Reject", "callback_data": f"reject:{approval.pk}"},
    ]]
    assert len(fake.sent(VIEWER)) == 1  # viewers are told too; their presses are refused

    with django_capture_on_commit_callbacks(execute=True):
        answer = telegram_bot.press(message, f"reject:{approval.pk}", user_id=OPERATOR)
    assert answer["text"] == "Rejected."
    approval.refresh_from_db()
    assert approval.status == Approval.Status.REJECTED
    assert approval.decider_name == f"telegram:{OPERATOR}"
    assert f"Rejected by telegram:{OPERATOR}" in fake.message(OPERATOR, message["message_id"])["text"]
    # ...and every chat hears the decision.
    assert fake.sent(ADMIN)[-1]["text"] == f"Proposal #{approval.pk} for alpha rejected by telegram:{OPERATOR}: " \
        f"proposal #{approval.pk} rejected"


@pytest.mark.django_db
def test_an_applied_proposal_is_told_to_every_chat(
    telegram_config: FakeTelegram, eager: Celery, django_capture_on_commit_callbacks: Any
) -> None:
    config = BotConfigFactory(bot__name="alpha", version=3)
    approval = pending_proposal(config)
    with django_capture_on_commit_callbacks(execute=True):
        approvals.approve(approval_id=approval.pk, actor=Actor("ann", Role.OPERATOR))
    assert only_text(telegram_config) == f"Proposal #{approval.pk} for alpha applied as v4 (by ann)."


@pytest.mark.django_db
def test_an_expiry_and_its_consequence_are_both_notified(
    telegram_config: FakeTelegram, eager: Celery, django_capture_on_commit_callbacks: Any
) -> None:
    set_state("RUNNING")
    config = BotConfigFactory(bot__name="alpha")
    approval = pending_proposal(config, on_expiry=Approval.OnExpiry.PAUSE, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        approvals.expire_due(now=timezone.now() + timedelta(minutes=2))
    assert SystemState.objects.get(id=1).state == "PAUSED"
    assert texts_by_chat(telegram_config)[VIEWER] == [
        f"Proposal #{approval.pk} for alpha expired undecided: the system is paused.",
        f"System state: RUNNING → PAUSED by system\nReason: proposal #{approval.pk} for alpha expired "
        "undecided (policy pause)",
    ]


# --- the daily summary ----------------------------------------------------------------
@pytest.mark.django_db
def test_the_daily_summary_is_scheduled_at_five_past_midnight_utc_once() -> None:
    scheduling.ensure_system_tasks()
    scheduling.ensure_system_tasks()
    [task] = PeriodicTask.objects.filter(task=notifications.DAILY_SUMMARY_TASK)
    assert task.enabled and task.interval is None
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("5", "0", "UTC")
    assert (task.crontab.day_of_week, task.crontab.day_of_month, task.crontab.month_of_year) == ("*", "*", "*")


@pytest.mark.django_db
def test_the_daily_summary_tells_yesterdays_fills_and_equity(telegram_config: FakeTelegram, eager: Celery) -> None:
    config = BotConfigFactory(bot__name="alpha")
    bot = config.bot
    today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    order = OrderFactory(bot=bot, status=Order.Status.FILLED)
    for n, (when, pnl) in enumerate([(yesterday + timedelta(hours=3), Decimal("12.5")),
                                      (yesterday + timedelta(hours=9), Decimal("-2.5")),
                                      (today + timedelta(minutes=1), Decimal("100"))]):
        Fill.objects.create(order=order, bot=bot, symbol="BTCUSDT", side="SELL", price=Decimal("30000"),
                            quantity=Decimal("0.01"), quote_quantity=Decimal("300"), fee=Decimal("0.3"),
                            trade_id=f"t{n}", filled_at=when, realized_pnl=pnl)
    for when, equity in [(yesterday - timedelta(minutes=1), "10000"), (today - timedelta(minutes=1), "10010")]:
        EquitySnapshot.objects.create(bot=bot, taken_at=when, cash=Decimal(equity), positions_value=0,
                                      equity=Decimal(equity), peak_equity=Decimal(equity))

    result = notifications.daily_summary.apply()

    assert result.state == "SUCCESS" and result.result == len(ALLOWED)
    text = only_text(telegram_config)
    assert text.startswith(f"Daily summary for {yesterday:%Y-%m-%d} (UTC)\nSystem: PAUSED\n")
    assert "• alpha: 2 fills, realized +10.00, fees 0.60; equity 10,010.00 (day +10.00)" in text


# --- delivery when Telegram misbehaves ------------------------------------------------
def deliver(text: str = "hello") -> Any:
    result = notifications.deliver.apply(args=[OPERATOR, text])
    assert result.state == "SUCCESS", result.traceback  # never raises, whatever Telegram did
    return result.result


def delivery_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "trading.notifications"]


@pytest.mark.django_db
def test_a_telegram_outage_is_retried_three_times_then_given_up_in_the_log(
    telegram_config: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    telegram_config.fail("sendMessage", status=500, times=None)
    assert deliver() is False
    assert len(telegram_config.calls("sendMessage")) == 1 + notifications.MAX_RETRIES
    log = delivery_log(caplog)
    assert [line.rsplit("retrying in ", 1)[-1] for line in log[:-1]] == ["2 s", "4 s", "8 s"]
    assert log[-1] == f"telegram: gave up on a message to chat {OPERATOR} after 4 attempts " \
        "(NetworkError: Internal Server Error)"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [None, b"<html><body>502 Bad Gateway</body></html>"])
def test_a_passing_bad_gateway_is_retried_and_the_message_delivered_once(
    telegram_config: FakeTelegram, body: bytes | None
) -> None:
    telegram_config.fail("sendMessage", status=502, times=2, body=body)
    assert deliver("after the storm") is True
    assert [m["text"] for m in telegram_config.sent(OPERATOR)] == ["after the storm"]
    assert [c.status for c in telegram_config.calls("sendMessage")] == [502, 502, 200]


@pytest.mark.django_db
def test_flood_control_is_retried_after_the_time_telegram_asks_within_the_visibility_timeout(
    telegram_config: FakeTelegram, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    settings.CELERY_VISIBILITY_TIMEOUT = 3600
    telegram_config.fail("sendMessage", status=429, retry_after=7)
    assert deliver() is True
    assert "retrying in 7 s" in delivery_log(caplog)[0]
    telegram_config.fail("sendMessage", status=429, retry_after=86400)
    assert deliver() is True
    assert f"retrying in {notifications.MAX_COUNTDOWN} s" in delivery_log(caplog)[1]
    settings.CELERY_VISIBILITY_TIMEOUT = 120
    telegram_config.fail("sendMessage", status=429, retry_after=86400)
    assert deliver() is True
    assert "retrying in 60 s" in delivery_log(caplog)[2]


@pytest.mark.django_db
def test_a_message_telegram_refuses_is_not_retried(
    telegram_config: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    telegram_config.fail("sendMessage", status=400)
    assert deliver() is False
    assert len(telegram_config.calls("sendMessage")) == 1
    assert "not retried" in delivery_log(caplog)[-1]


@pytest.mark.django_db
def test_a_slow_telegram_times_out_and_is_retried_a_bounded_number_of_times(
    telegram_config: FakeTelegram, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(adapter, "SEND_READ_TIMEOUT", 0.3)
    telegram_config.slow("sendMessage", 5)
    assert deliver() is False
    assert len(telegram_config.calls("sendMessage")) == 1 + notifications.MAX_RETRIES
    assert "gave up" in delivery_log(caplog)[-1] and "TimedOut" in delivery_log(caplog)[-1]


# --- never in the caller's way ----------------------------------------------------------
@pytest.fixture
def redis_celery() -> Iterator[tuple[Celery, str]]:
    """A Celery app on the real Redis, with a queue of its own (no other worker takes its tasks)."""
    queue = f"wt-telegram-test-{uuid.uuid4().hex[:10]}"
    app = Celery("telegram-tests", broker=REDIS_URL, set_as_current=False)
    app.conf.update(task_default_queue=queue, broker_connection_retry_on_startup=False)
    with app.connection_for_write() as conn:
        try:
            conn.ensure_connection(max_retries=1)
        except Exception:
            pytest.fail("Redis is not running on 127.0.0.1:6379: start it with `make services`")
    app.set_current()
    try:
        yield app, queue
    finally:
        celery_app.set_current()
        with app.connection_for_write() as conn:
            conn.SimpleQueue(queue).clear()
        app.close()


def take_messages(app: Celery, queue: str) -> list[tuple[str, list[Any]]]:
    """Everything waiting in ``queue``, as (task name, args), consumed."""
    taken = []
    with app.connection_for_read() as conn:
        simple = conn.SimpleQueue(queue)
        while True:
            try:
                message = simple.get(timeout=0.5)
            except simple.Empty:
                break
            args, _kwargs, _embed = message.decode()
            taken.append((message.headers["task"], args))
            message.ack()
        simple.close()
    return taken


@pytest.mark.redis
@pytest.mark.django_db
def test_a_pause_commits_and_returns_without_waiting_on_telegram(
    telegram_config: FakeTelegram, redis_celery: tuple[Celery, str], django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, queue = redis_celery
    set_state("RUNNING")
    telegram_config.slow(None, 30)  # Telegram hangs...
    telegram_config.fail("sendMessage", status=500, times=None)  # ...and then fails

    with django_capture_on_commit_callbacks(execute=True):
        state.pause(actor=OPERATOR_ACTOR, reason="lunch")

    # The change is committed and the caller is back, and Telegram has not been asked yet.
    assert SystemState.objects.get(id=1).state == "PAUSED"
    event = Event.objects.get(type="system.state.changed")
    assert telegram_config.calls() == []
    assert take_messages(app, queue) == [("trading.notifications.notify_event", [event.pk])]

    # The worker's part: render, fan out one delivery per chat, each retried then given up.
    telegram_config.clear_faults()
    telegram_config.fail("sendMessage", status=500, times=None)
    assert notifications.notify_event.apply(args=[event.pk]).result == len(ALLOWED)
    deliveries = take_messages(app, queue)
    assert sorted(args[0] for _, args in deliveries) == sorted(ALLOWED)
    for name, args in deliveries:
        assert name == "trading.notifications.deliver"
        assert app.tasks[name].apply(args=args).result is False
    assert len(telegram_config.calls("sendMessage")) == len(ALLOWED) * (1 + notifications.MAX_RETRIES)
    assert sum("gave up" in line for line in delivery_log(caplog)) == len(ALLOWED)


@pytest.mark.redis
@pytest.mark.django_db
def test_a_cycle_fills_and_returns_while_telegram_hangs(
    telegram_config: FakeTelegram, redis_celery: tuple[Celery, str], django_capture_on_commit_callbacks: Any,
    replay_bot: Any,
) -> None:
    app, queue = redis_celery
    telegram_config.slow(None, 60)

    order = first_fill_by_cycles(replay_bot, django_capture_on_commit_callbacks)

    assert order.status == Order.Status.FILLED
    assert telegram_config.calls() == []
    fill_event = Event.objects.get(type="trading.order.filled")
    assert take_messages(app, queue) == [("trading.notifications.notify_event", [fill_event.pk])]


@pytest.mark.django_db
def test_an_unreachable_broker_never_fails_the_change(
    telegram_config: FakeTelegram, django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = Celery("telegram-tests-nobroker", broker="redis://127.0.0.1:9/0", set_as_current=False)
    app.conf.update(broker_connection_timeout=1)
    app.set_current()
    set_state("RUNNING")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            state.pause(actor=OPERATOR_ACTOR)
    finally:
        celery_app.set_current()
        app.close()
    assert SystemState.objects.get(id=1).state == "PAUSED"
    assert any("could not enqueue the notification" in line for line in delivery_log(caplog))
    assert telegram_config.calls() == []


def test_events_that_matter_are_chosen_from_the_event_alone() -> None:
    def event(type: str, **result: Any) -> Event:
        return Event(type=type, result=result, created_at=datetime(2026, 1, 1, tzinfo=UTC))

    assert notifications.wants(event("trading.order.filled"))
    assert notifications.wants(event("trading.risk.blocked", reasons=["MAX_DRAWDOWN"]))
    assert not notifications.wants(event("trading.risk.blocked", reasons=["COOLDOWN"]))
    assert not notifications.wants(event("trading.risk.blocked"))
    assert not notifications.wants(event("trading.cycle.completed"))
    assert not notifications.wants(event("telegram.unauthorized"))
