"""The operators' Telegram bot: every command by every role and by a stranger,
inline buttons, the emergency-stop confirmation, and malformed callbacks.

The real python-telegram-bot application polls the local fake Bot API server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from approvals import services as approvals
from approvals.models import Approval
from audit.actors import Actor, Role
from audit.models import Event
from audit.services import verify_chain
from tests.factories import BotConfigFactory, OrderFactory
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_fixtures import (
    ADMIN,
    ALLOWED,
    GROUP,
    GROUP_OPERATOR,
    OPERATOR,
    STRANGER,
    TOKEN,
    VIEWER,
    BotDriver,
)
from trading.adapters import telegram as adapter
from trading.models import BotConfig, EquitySnapshot, Order, Position, SystemState
from trading.services import bot_config_create

ROLE_IDS = {"stranger": STRANGER, "viewer": VIEWER, "operator": OPERATOR, "admin": ADMIN}
RANK = {"stranger": Role.ANONYMOUS, "viewer": Role.VIEWER, "operator": Role.OPERATOR, "admin": Role.ADMIN}
ROOT = Path(__file__).resolve().parent.parent


def set_state(value: str) -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": value})


def current_state() -> str:
    return SystemState.objects.get(id=1).state


def pending_approval(config: Any) -> Approval:
    return approvals.propose(bot=config.bot, kind=Approval.Kind.STRATEGY_PARAMS,
                             change={"strategy_params": {"fast": 12}}, proposer=Actor.advisor("rules"),
                             rationale="faster entries")


@dataclass
class World:
    config: Any
    order: Order
    approval: Approval
    events_before: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def make_world(initial_state: str = "RUNNING") -> World:
    config = BotConfigFactory(bot__name="alpha")
    bot = config.bot
    Position.objects.create(bot=bot, symbol="BTCUSDT", quantity=Decimal("0.5"), cost_basis=Decimal("15000"),
                            avg_entry_price=Decimal("30000"), last_price=Decimal("31000"))
    EquitySnapshot.objects.create(bot=bot, taken_at=timezone.now(), cash=Decimal("5000"),
                                  positions_value=Decimal("15500"), equity=Decimal("20500"),
                                  peak_equity=Decimal("20500"))
    order = OrderFactory(bot=bot, status=Order.Status.OPEN)
    approval = pending_approval(config)
    set_state(initial_state)
    return World(config=config, order=order, approval=approval, events_before=Event.objects.count())


def new_events(world: World) -> list[Event]:
    return list(Event.objects.order_by("seq")[world.events_before:])


# --- every command × every role -------------------------------------------------
@dataclass(frozen=True)
class Case:
    text: str
    needs: str
    initial_state: str = "RUNNING"


CASES = {
    "status": Case("/status", "viewer"),
    "positions": Case("/positions", "viewer"),
    "pnl": Case("/pnl", "viewer"),
    "orders": Case("/orders", "viewer"),
    "help": Case("/help", "viewer"),
    "pause": Case("/pause lunch break", "operator"),
    "resume": Case("/resume", "operator", initial_state="PAUSED"),
    "stop": Case("/stop", "operator"),
    "approve": Case("/approve {approval} looks fine", "operator"),
    "reject": Case("/reject {approval} not convinced", "operator"),
}


def check_allowed(name: str, world: World, reply: dict[str, Any], chat_id: int) -> None:
    text = reply["text"]
    actor = f"telegram:{chat_id}"
    if name == "status":
        assert "System: RUNNING" in text and "alpha" in text and "Pending proposals: 1" in text
    elif name == "positions":
        assert "alpha BTCUSDT: 0.5 at 30,000.00 avg, last 31,000.00, unrealized +500.00" in text
    elif name == "pnl":
        # As the dashboard counts it: no snapshot before midnight, so the day opened at the initial cash.
        assert "• alpha: equity 20,500.00, total +10,500.00 (+105.00%), today +10,500.00" in text
    elif name == "orders":
        assert "Open orders:" in text and "alpha BUY 0.01 BTCUSDT OPEN" in text
    elif name == "help":
        assert "/status" in text and ("/pause" in text) == (chat_id in (OPERATOR, ADMIN))
    elif name == "pause":
        assert current_state() == "PAUSED"
        event = Event.objects.get(type="system.state.changed")
        assert event.actor == actor and event.inputs["reason"] == "lunch break"
    elif name == "resume":
        assert current_state() == "RUNNING"
        assert Event.objects.get(type="system.state.changed").actor == actor
    elif name == "stop":
        assert current_state() == "RUNNING"  # only asks for confirmation
        buttons = reply["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["Confirm emergency stop", "Cancel"]
    elif name == "approve":
        world.approval.refresh_from_db()
        assert world.approval.status == Approval.Status.APPLIED
        assert world.approval.decider_name == actor and world.approval.decision_note == "looks fine"
        assert text == f"Proposal #{world.approval.pk} approved and applied as v{world.config.version + 1}."
        active = BotConfig.objects.get(bot=world.config.bot, is_active=True)
        assert active.strategy_params["fast"] == 12 and active.source == BotConfig.Source.APPROVAL
        assert Event.objects.get(type="approvals.approval.approved").actor == actor
    elif name == "reject":
        world.approval.refresh_from_db()
        assert world.approval.status == Approval.Status.REJECTED
        assert world.approval.decider_name == actor and world.approval.decision_note == "not convinced"
        assert Event.objects.get(type="approvals.approval.rejected").actor == actor
    assert not Event.objects.filter(type="telegram.unauthorized").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(ROLE_IDS))
@pytest.mark.parametrize("name", list(CASES))
def test_command_by_role(telegram_bot: BotDriver, name: str, role: str) -> None:
    case = CASES[name]
    world = make_world(case.initial_state)
    chat_id = ROLE_IDS[role]

    replies = telegram_bot.send(case.text.format(approval=world.approval.pk), chat_id=chat_id)

    assert len(replies) == 1
    if RANK[role] >= RANK[case.needs]:
        check_allowed(name, world, replies[0], chat_id)
        return
    # Refused: a polite answer, nothing changed, one telegram.unauthorized event.
    assert replies[0]["text"].startswith("Sorry")
    assert "reply_markup" not in replies[0]
    assert current_state() == case.initial_state
    world.approval.refresh_from_db()
    world.order.refresh_from_db()
    assert world.approval.status == Approval.Status.PENDING
    assert world.order.status == Order.Status.OPEN
    [event] = new_events(world)
    assert event.type == "telegram.unauthorized"
    assert event.actor == f"telegram:{chat_id}"
    command = case.text.split()[0]
    assert event.inputs == {"chat_id": chat_id, "user_id": chat_id, "command": command, "role": role
                            if role != "stranger" else "anonymous"}
    assert verify_chain().ok


# --- roles in groups ------------------------------------------------------------
@pytest.mark.django_db
def test_in_a_group_a_listed_user_acts_with_their_own_role(telegram_bot: BotDriver) -> None:
    world = make_world("RUNNING")
    [reply] = telegram_bot.send("/pause", chat_id=GROUP, user_id=GROUP_OPERATOR)
    assert reply["text"].startswith("Paused")
    assert current_state() == "PAUSED"
    event = Event.objects.get(type="system.state.changed")
    assert event.actor == f"telegram:{GROUP_OPERATOR}"
    assert len(new_events(world)) == 1


@pytest.mark.django_db
def test_in_a_group_an_unlisted_member_has_the_groups_role(telegram_bot: BotDriver) -> None:
    world = make_world("RUNNING")
    [status] = telegram_bot.send("/status", chat_id=GROUP, user_id=STRANGER)
    assert "System: RUNNING" in status["text"]
    [refused] = telegram_bot.send("/pause", chat_id=GROUP, user_id=STRANGER)
    assert "needs the operator role; you are a viewer" in refused["text"]
    assert current_state() == "RUNNING"
    [event] = new_events(world)
    assert event.type == "telegram.unauthorized"
    assert event.inputs == {"chat_id": GROUP, "user_id": STRANGER, "command": "/pause", "role": "viewer"}


@pytest.mark.django_db
def test_a_listed_user_in_an_unlisted_group_keeps_their_role(telegram_bot: BotDriver) -> None:
    make_world("RUNNING")
    [reply] = telegram_bot.send("/pause", chat_id=-100999, user_id=OPERATOR)
    assert reply["text"].startswith("Paused")
    assert Event.objects.get(type="system.state.changed").actor == f"telegram:{OPERATOR}"


# --- command details ------------------------------------------------------------
@pytest.mark.django_db
def test_resume_from_emergency_stop_is_for_admins_with_a_reason(telegram_bot: BotDriver) -> None:
    make_world("EMERGENCY_STOP")
    [by_operator] = telegram_bot.send("/resume all clear", chat_id=OPERATOR)
    assert by_operator["text"].startswith("Not resumed") and "needs admin" in by_operator["text"]
    [no_reason] = telegram_bot.send("/resume", chat_id=ADMIN)
    assert "written reason" in no_reason["text"]
    assert current_state() == "EMERGENCY_STOP"
    assert Event.objects.filter(type="system.state.refused").count() == 2

    [by_admin] = telegram_bot.send("/resume exchange is back", chat_id=ADMIN)
    assert by_admin["text"].startswith("Resumed")
    assert current_state() == "RUNNING"
    event = Event.objects.get(type="system.state.changed")
    assert event.actor == f"telegram:{ADMIN}" and event.inputs["reason"] == "exchange is back"


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["/reject", "/reject twelve", "/approve", "/approve 1.5"])
def test_decisions_without_a_valid_id_explain_the_usage(telegram_bot: BotDriver, text: str) -> None:
    world = make_world()
    [reply] = telegram_bot.send(text, chat_id=OPERATOR)
    assert reply["text"].startswith("Usage: /")
    assert new_events(world) == []


@pytest.mark.django_db
def test_rejecting_an_unknown_or_decided_proposal_says_why(telegram_bot: BotDriver) -> None:
    world = make_world()
    [unknown] = telegram_bot.send("/reject 99999", chat_id=OPERATOR)
    assert unknown["text"] == "Not rejected: no proposal #99999."
    telegram_bot.send(f"/reject {world.approval.pk}", chat_id=OPERATOR)
    [again] = telegram_bot.send(f"/reject {world.approval.pk}", chat_id=ADMIN)
    assert again["text"] == f"Not rejected: proposal #{world.approval.pk} is already rejected."
    assert Event.objects.filter(type="approvals.approval.rejected").count() == 1


@pytest.mark.django_db
def test_unknown_commands_are_answered_and_strangers_recorded(telegram_bot: BotDriver) -> None:
    world = make_world()
    [known] = telegram_bot.send("/buy everything", chat_id=OPERATOR)
    assert known["text"] == "Unknown command /buy. /help lists the commands."
    assert new_events(world) == []
    [stranger] = telegram_bot.send("/buy everything", chat_id=STRANGER)
    assert stranger["text"].startswith("Sorry")
    [event] = new_events(world)
    assert event.type == "telegram.unauthorized" and event.inputs["command"] == "/buy"


@pytest.mark.django_db
def test_an_edited_command_is_not_run_again(telegram_bot: BotDriver) -> None:
    world = make_world("RUNNING")
    telegram_bot.send_unanswered("/pause", chat_id=OPERATOR, edited=True)
    assert telegram_bot.fake.sent(OPERATOR) == []
    assert current_state() == "RUNNING"
    assert new_events(world) == []


# --- inline buttons ---------------------------------------------------------------
def bot_message_with_buttons(fake: FakeTelegram, chat_id: int, approval_id: int) -> dict[str, Any]:
    """The proposal message as the notification task sends it (through the adapter)."""
    message_id = adapter.send_message(chat_id=chat_id, text=f"New proposal #{approval_id}",
                                      buttons=adapter.approval_buttons(approval_id))
    message = fake.message(chat_id, message_id)
    assert message is not None
    return message


@pytest.mark.django_db
def test_inline_reject_decides_and_edits_the_message(telegram_bot: BotDriver) -> None:
    world = make_world()
    fake = telegram_bot.fake
    message = bot_message_with_buttons(fake, OPERATOR, world.approval.pk)

    answer = telegram_bot.press(message, f"reject:{world.approval.pk}", user_id=OPERATOR)

    assert answer["text"] == "Rejected."
    world.approval.refresh_from_db()
    assert world.approval.status == Approval.Status.REJECTED
    assert world.approval.decider_name == f"telegram:{OPERATOR}"
    edited = fake.message(OPERATOR, message["message_id"])
    assert edited["text"].startswith(f"New proposal #{world.approval.pk}\n\nRejected by telegram:{OPERATOR}")
    assert "reply_markup" not in edited  # the buttons are gone


@pytest.mark.django_db
def test_inline_approve_applies_the_change_and_edits_the_message(telegram_bot: BotDriver) -> None:
    world = make_world()
    fake = telegram_bot.fake
    message = bot_message_with_buttons(fake, ADMIN, world.approval.pk)

    answer = telegram_bot.press(message, f"approve:{world.approval.pk}", user_id=ADMIN)

    assert answer["text"] == "Approved."
    world.approval.refresh_from_db()
    assert world.approval.status == Approval.Status.APPLIED
    active = BotConfig.objects.get(bot=world.config.bot, is_active=True)
    assert world.approval.applied_config == active and active.strategy_params["fast"] == 12
    assert Event.objects.get(type="approvals.approval.applied").actor == f"telegram:{ADMIN}"
    edited = fake.message(ADMIN, message["message_id"])
    assert edited["text"].endswith(
        f"Approved by telegram:{ADMIN}: Proposal #{world.approval.pk} approved and applied as v{active.version}."
    )
    assert "reply_markup" not in edited


@pytest.mark.django_db
def test_approving_after_the_configuration_moved_on_reports_the_failure(telegram_bot: BotDriver) -> None:
    world = make_world()
    bot_config_create(bot=world.config.bot, actor=Actor("admin", Role.ADMIN), source=BotConfig.Source.MANUAL,
                      strategy_params={"fast": 8, "slow": 30})
    [reply] = telegram_bot.send(f"/approve {world.approval.pk}", chat_id=OPERATOR)
    assert reply["text"].startswith(f"Proposal #{world.approval.pk} approved but not applied: "
                                    "the configuration moved on")
    world.approval.refresh_from_db()
    assert world.approval.status == Approval.Status.FAILED
    assert BotConfig.objects.get(bot=world.config.bot, is_active=True).strategy_params["fast"] == 8


@pytest.mark.django_db
def test_a_stale_approval_button_answers_politely_and_shows_the_outcome(telegram_bot: BotDriver) -> None:
    world = make_world()
    fake = telegram_bot.fake
    message = bot_message_with_buttons(fake, OPERATOR, world.approval.pk)
    telegram_bot.send(f"/reject {world.approval.pk}", chat_id=ADMIN)

    answer = telegram_bot.press(message, f"approve:{world.approval.pk}", user_id=OPERATOR)

    assert answer["text"] == f"Too late: proposal #{world.approval.pk} is already rejected."
    world.approval.refresh_from_db()
    assert world.approval.status == Approval.Status.REJECTED
    assert "No longer pending" in fake.message(OPERATOR, message["message_id"])["text"]


@pytest.mark.django_db
@pytest.mark.parametrize("presser", ["viewer", "stranger"])
def test_buttons_beyond_the_role_change_nothing(telegram_bot: BotDriver, presser: str) -> None:
    world = make_world()
    fake = telegram_bot.fake
    chat_id = ROLE_IDS[presser]  # a private chat: the presser's own
    message = bot_message_with_buttons(fake, chat_id, world.approval.pk)

    answer = telegram_bot.press(message, f"reject:{world.approval.pk}", user_id=chat_id)

    assert answer["text"].startswith("Sorry")
    world.approval.refresh_from_db()
    assert world.approval.status == Approval.Status.PENDING
    assert fake.message(chat_id, message["message_id"])["text"] == message["text"]
    [event] = new_events(world)
    assert event.type == "telegram.unauthorized"
    assert event.inputs["command"] == f"button reject:{world.approval.pk}"
    assert event.inputs["user_id"] == ROLE_IDS[presser]


@pytest.mark.django_db
def test_stop_then_confirm_makes_an_emergency_stop(telegram_bot: BotDriver) -> None:
    world = make_world("RUNNING")
    fake = telegram_bot.fake
    [question] = telegram_bot.send("/stop", chat_id=OPERATOR)
    confirm = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert current_state() == "RUNNING"

    answer = telegram_bot.press(question, confirm, user_id=OPERATOR)

    assert answer["text"] == "Emergency stop: done."
    assert current_state() == "EMERGENCY_STOP"
    world.order.refresh_from_db()
    assert world.order.status == Order.Status.CANCELED
    change = Event.objects.get(type="system.state.changed")
    assert change.actor == f"telegram:{OPERATOR}" and change.inputs["to"] == "EMERGENCY_STOP"
    edited = fake.message(OPERATOR, question["message_id"])
    assert f"EMERGENCY STOP by telegram:{OPERATOR}" in edited["text"]
    assert "reply_markup" not in edited


@pytest.mark.django_db
def test_stop_cancel_and_an_expired_confirmation_change_nothing(telegram_bot: BotDriver) -> None:
    world = make_world("RUNNING")
    fake = telegram_bot.fake
    [question] = telegram_bot.send("/stop", chat_id=OPERATOR)
    assert telegram_bot.press(question, "stop:cancel", user_id=OPERATOR)["text"].startswith("Cancelled")
    assert "Cancelled by" in fake.message(OPERATOR, question["message_id"])["text"]

    [again] = telegram_bot.send("/stop", chat_id=OPERATOR)
    stale = f"stop:{int(time.time()) - adapter.STOP_CONFIRM_SECONDS - 5}"
    answer = telegram_bot.press(again, stale, user_id=OPERATOR)
    assert answer["text"] == "This confirmation has expired: send /stop again."
    assert current_state() == "RUNNING"
    world.order.refresh_from_db()
    assert world.order.status == Order.Status.OPEN
    assert new_events(world) == []


@pytest.mark.django_db
def test_a_viewer_cannot_confirm_an_emergency_stop(telegram_bot: BotDriver) -> None:
    world = make_world("RUNNING")
    [question] = telegram_bot.send("/stop", chat_id=OPERATOR)
    confirm = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    answer = telegram_bot.press(question, confirm, user_id=VIEWER)
    assert answer["text"].startswith("Sorry")
    assert current_state() == "RUNNING"
    [event] = new_events(world)
    assert event.type == "telegram.unauthorized" and event.inputs["command"] == f"button {confirm}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data", ["", "hello", "approve:", "approve:abc", "reject:1:2", "approve:cancel", "stop:-5", "x" * 64]
)
def test_unknown_callback_data_gets_a_polite_answer(telegram_bot: BotDriver, data: str) -> None:
    world = make_world()
    [question] = telegram_bot.send("/stop", chat_id=OPERATOR)
    answer = telegram_bot.press(question, data, user_id=OPERATOR)
    assert answer["text"] == "This button is not valid any more. Nothing was changed."
    assert current_state() == "RUNNING"
    assert new_events(world) == []


@pytest.mark.django_db
def test_a_callback_without_a_message_is_answered_not_crashed(telegram_bot: BotDriver) -> None:
    world = make_world()
    fake = telegram_bot.fake

    # From a stranger: refused and recorded, the user id is all there is.
    refused = telegram_bot.callback(f"reject:{world.approval.pk}", user_id=STRANGER)
    assert refused["text"].startswith("Sorry")
    [event] = new_events(world)
    assert event.inputs == {"chat_id": None, "user_id": STRANGER, "command": f"button reject:{world.approval.pk}",
                            "role": "anonymous"}

    # From an operator: decided by the user's own role; nothing to edit, no crash.
    answer = telegram_bot.callback(f"reject:{world.approval.pk}", user_id=OPERATOR)
    assert answer["text"] == "Rejected."
    world.approval.refresh_from_db()
    assert world.approval.status == Approval.Status.REJECTED
    assert fake.calls("editMessageText") == []

    # From an inline message: edited through its inline message id.
    answer = telegram_bot.callback("stop:cancel", user_id=OPERATOR, inline_message_id="inline-7")
    assert answer["text"].startswith("Cancelled")
    [edit] = fake.calls("editMessageText")
    assert edit.params["inline_message_id"] == "inline-7"


@pytest.mark.django_db
def test_a_button_whose_edit_fails_is_still_answered(telegram_bot: BotDriver) -> None:
    world = make_world()
    fake = telegram_bot.fake
    message = bot_message_with_buttons(fake, OPERATOR, world.approval.pk)
    fake.fail("editMessageText", status=400)
    answer = telegram_bot.press(message, f"reject:{world.approval.pk}", user_id=OPERATOR)
    assert answer["text"] == "Rejected."
    world.approval.refresh_from_db()
    assert world.approval.status == Approval.Status.REJECTED


# --- the management command -------------------------------------------------------
def test_the_command_refuses_to_start_without_a_token(settings: Any) -> None:
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="^TELEGRAM_BOT_TOKEN is not set"):
        call_command("telegram_bot")


def bot_process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update({"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


@pytest.mark.slow
def test_the_command_exits_with_one_line_when_the_token_is_missing() -> None:
    done = subprocess.run([sys.executable, "manage.py", "telegram_bot"], cwd=ROOT, capture_output=True,
                          text=True, env=bot_process_env(TELEGRAM_BOT_TOKEN=""), timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "CommandError: TELEGRAM_BOT_TOKEN is not set: the Telegram bot has nothing to log in with"
    ]


@pytest.mark.slow
def test_the_command_serves_commands_and_stops_cleanly_without_logging_the_token(
    telegram_fake: FakeTelegram, tmp_path: Path
) -> None:
    allowed = ",".join(f"{chat}:{role}" for chat, role in ALLOWED.items())
    env = bot_process_env(
        TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=telegram_fake.base_url, TELEGRAM_ALLOWED_CHATS=allowed,
        LOG_LEVEL="DEBUG", DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
    )
    process = subprocess.Popen([sys.executable, "manage.py", "telegram_bot"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        telegram_fake.command("/help", chat_id=VIEWER)
        assert telegram_fake.wait_for(lambda: len(telegram_fake.sent(VIEWER)) == 1, timeout=60)
        [reply] = telegram_fake.sent(VIEWER)
        assert reply["text"].startswith("You are a viewer. Commands:")
        assert "/pause" not in reply["text"]
        [menu] = telegram_fake.calls("setMyCommands")
        assert {c["command"] for c in menu.params["commands"]} == {
            name for name, c in adapter.COMMANDS.items() if c.listed
        }
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "Application started" in output  # the library's own logging did reach the output
    assert TOKEN not in output
    assert TOKEN.split(":", 1)[1] not in output
