"""Telegram over python-telegram-bot: the operators' bot and message delivery.

The bot (:func:`build_application`, run by ``manage.py telegram_bot``) answers
commands and inline buttons. Every handler parses the update, works out the
caller's role from ``TELEGRAM_ALLOWED_CHATS``, calls one service (in a worker
thread: the ORM is synchronous) and replies. Refusals change nothing and are
recorded as ``telegram.unauthorized``.

Notifications are not sent by the bot process but by Celery tasks
(``trading.notifications``) through :func:`send_message`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from approvals import services as approvals
from approvals.models import Approval
from audit.actors import Actor, Role
from audit.services import record
from trading import reports, state

logger = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and a Bot API URL contains the token.
logging.getLogger("httpx").setLevel(logging.WARNING)

ALLOWED_UPDATES = ["message", "callback_query"]
ROLES = {"viewer": Role.VIEWER, "operator": Role.OPERATOR, "admin": Role.ADMIN}
# An emergency-stop confirmation button works this long after /stop.
STOP_CONFIRM_SECONDS = 120
# Delivery of one notification: each attempt gives up after these, and the
# Celery task retries (trading.notifications), so a slow Telegram costs a worker little.
SEND_CONNECT_TIMEOUT = 5.0
SEND_READ_TIMEOUT = 10.0

Buttons = Sequence[Sequence[tuple[str, str]]]  # rows of (label, callback data)
T = TypeVar("T")


# --- who is asking ------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    """The sender of an update and the role the allow list gives them.

    ``listed_id`` is the id whose entry gave the role (the user's, else the
    chat's); it names the actor, ``telegram:<id>``.
    """

    chat_id: int | None
    user_id: int | None
    role: Role
    listed_id: int | None

    @property
    def actor(self) -> Actor:
        return Actor.telegram(self.listed_id or self.user_id or self.chat_id or 0, self.role)


def caller_of(update: Update, allowed: Mapping[int, str]) -> Caller:
    """The user id's role if it is listed, else the chat id's, else ANONYMOUS."""
    user_id = update.effective_user.id if update.effective_user else None
    chat_id = update.effective_chat.id if update.effective_chat else None
    for candidate in (user_id, chat_id):
        if candidate is not None and candidate in allowed:
            return Caller(chat_id, user_id, ROLES[allowed[candidate]], candidate)
    return Caller(chat_id, user_id, Role.ANONYMOUS, None)


def record_unauthorized(caller: Caller, what: str, needs: Role) -> None:
    record(
        "telegram.unauthorized",
        Actor.telegram(caller.user_id or caller.chat_id or 0, caller.role),
        f"refused {what}: needs {needs.label}, caller is "
        + ("not on the allow list" if caller.role == Role.ANONYMOUS else caller.role.label),
        inputs={"chat_id": caller.chat_id, "user_id": caller.user_id, "command": what,
                "role": caller.role.label},
        result={"refused": True, "needs": needs.label},
    )


def refusal(caller: Caller, what: str, needs: Role) -> str:
    if caller.role == Role.ANONYMOUS:
        return "Sorry, this chat is not allowed to use this bot. Ask an admin to add it."
    return f"Sorry, {what} needs the {needs.label} role; you are a {caller.role.label}. Nothing was changed."


# --- replies ------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    text: str
    buttons: Buttons = ()


def keyboard(buttons: Buttons | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in buttons]
    )


def approval_buttons(approval_id: int) -> Buttons:
    return ((("Approve", f"approve:{approval_id}"), ("Reject", f"reject:{approval_id}")),)


# --- commands: each parses its arguments and calls one service ---------------
def _status(caller: Caller, args: list[str]) -> Reply:
    return Reply(reports.status_text())


def _positions(caller: Caller, args: list[str]) -> Reply:
    return Reply(reports.positions_text())


def _pnl(caller: Caller, args: list[str]) -> Reply:
    return Reply(reports.pnl_text())


def _orders(caller: Caller, args: list[str]) -> Reply:
    return Reply(reports.orders_text())


def _pause(caller: Caller, args: list[str]) -> Reply:
    try:
        state.pause(actor=caller.actor, reason=" ".join(args))
    except state.StateError as exc:
        return Reply(f"Not paused: {exc.message}.")
    return Reply("Paused: no new trades until /resume.")


def _resume(caller: Caller, args: list[str]) -> Reply:
    try:
        state.resume(actor=caller.actor, reason=" ".join(args))
    except state.StateError as exc:
        return Reply(f"Not resumed: {exc.message}.")
    return Reply("Resumed: the bots trade again.")


def _stop(caller: Caller, args: list[str]) -> Reply:
    return Reply(
        "Emergency stop: cancel every open order and block all trading. Only an admin can resume "
        f"afterwards. Confirm within {STOP_CONFIRM_SECONDS // 60} minutes?",
        ((("Confirm emergency stop", f"stop:{int(time.time())}"), ("Cancel", "stop:cancel")),),
    )


def _approval_id(args: list[str]) -> int | None:
    if not args or not re.fullmatch(r"#?\d{1,12}", args[0]):
        return None
    return int(args[0].lstrip("#"))


def _decision_text(approval: Approval) -> str:
    if approval.status == Approval.Status.APPLIED:
        version = approval.applied_config.version if approval.applied_config else "?"
        return f"Proposal #{approval.pk} approved and applied as v{version}."
    if approval.status == Approval.Status.FAILED:
        return f"Proposal #{approval.pk} approved but not applied: {approval.failure_reason}"
    return f"Proposal #{approval.pk} {approval.status.lower()}."


def _approve(caller: Caller, args: list[str]) -> Reply:
    approval_id = _approval_id(args)
    if approval_id is None:
        return Reply("Usage: /approve ID [note], e.g. /approve 12")
    try:
        approval = approvals.approve(approval_id=approval_id, actor=caller.actor, note=" ".join(args[1:]))
    except approvals.ApprovalError as exc:
        return Reply(f"Not approved: {exc.message}.")
    return Reply(_decision_text(approval))


def _reject(caller: Caller, args: list[str]) -> Reply:
    approval_id = _approval_id(args)
    if approval_id is None:
        return Reply("Usage: /reject ID [note], e.g. /reject 12 too risky")
    try:
        approval = approvals.reject(approval_id=approval_id, actor=caller.actor, note=" ".join(args[1:]))
    except approvals.ApprovalError as exc:
        return Reply(f"Not rejected: {exc.message}.")
    return Reply(_decision_text(approval))


def _help(caller: Caller, args: list[str]) -> Reply:
    lines = [f"You are a {caller.role.label}. Commands:"]
    for name, command in COMMANDS.items():
        if command.listed and caller.role >= command.role:
            lines.append(f"/{name}{command.usage} - {command.description}")
    return Reply("\n".join(lines))


@dataclass(frozen=True)
class Command:
    role: Role
    run: Callable[[Caller, list[str]], Reply]
    description: str
    usage: str = ""
    listed: bool = True


# The one place where each command declares the role it needs.
COMMANDS: dict[str, Command] = {
    "status": Command(Role.VIEWER, _status, "system state, bots and pending proposals"),
    "positions": Command(Role.VIEWER, _positions, "open positions"),
    "pnl": Command(Role.VIEWER, _pnl, "equity and profit and loss per bot"),
    "orders": Command(Role.VIEWER, _orders, "open orders (else the latest)"),
    "pause": Command(Role.OPERATOR, _pause, "pause trading", " [reason]"),
    "resume": Command(Role.OPERATOR, _resume, "resume trading (from an emergency stop: admin, with a reason)",
                      " [reason]"),
    "stop": Command(Role.OPERATOR, _stop, "emergency stop (asks for confirmation)"),
    "approve": Command(Role.OPERATOR, _approve, "approve a proposal", " ID [note]"),
    "reject": Command(Role.OPERATOR, _reject, "reject a proposal", " ID [note]"),
    "help": Command(Role.VIEWER, _help, "this list"),
    "start": Command(Role.VIEWER, _help, "this list", listed=False),
}


# --- inline buttons -----------------------------------------------------------
CALLBACK = re.compile(r"^(?P<action>approve|reject|stop):(?P<arg>\d{1,12}|cancel)$")
BUTTON_ROLE = Role.OPERATOR


@dataclass(frozen=True)
class Outcome:
    """What a button press did: ``answer`` for the pop-up, ``note`` appended to the message."""

    answer: str
    note: str = ""


def parse_callback(data: str | None) -> tuple[str, str] | None:
    match = CALLBACK.match(data or "")
    if match is None:
        return None
    action, arg = match["action"], match["arg"]
    if arg == "cancel" and action != "stop":
        return None
    return action, arg


def _press(caller: Caller, action: str, arg: str, now: float) -> Outcome:
    if action == "stop":
        if arg == "cancel":
            return Outcome("Cancelled: nothing was changed.", f"Cancelled by {caller.actor}: nothing was changed.")
        if not 0 <= now - int(arg) <= STOP_CONFIRM_SECONDS:
            return Outcome("This confirmation has expired: send /stop again.", "Expired: nothing was changed.")
        try:
            row = state.emergency_stop(actor=caller.actor, reason="emergency stop from Telegram")
        except state.StateError as exc:
            return Outcome(f"Not stopped: {exc.message}.", f"Not stopped: {exc.message}.")
        return Outcome("Emergency stop: done.", f"EMERGENCY STOP by {caller.actor} at {reports.when(row.changed_at)}.")
    decide = approvals.approve if action == "approve" else approvals.reject
    try:
        approval = decide(approval_id=int(arg), actor=caller.actor)
    except approvals.AlreadyDecided as exc:
        return Outcome(f"Too late: {exc.message}.", f"No longer pending: {exc.message}.")
    except approvals.ApprovalError as exc:
        return Outcome(f"Not done: {exc.message}.")
    verb = "Approved" if action == "approve" else "Rejected"
    return Outcome(f"{verb}.", f"{verb} by {caller.actor}: {_decision_text(approval)}")


# --- the handlers -------------------------------------------------------------
def _with_fresh_connection(fn: Callable[..., T]) -> Callable[..., T]:
    """Treat each call like a web request: drop a database connection that went
    stale while the bot sat idle, and do not keep one across long idle periods."""

    def call(*args: Any) -> T:
        # A caller's open transaction (an enclosing atomic block) is left alone.
        if not connection.in_atomic_block:
            close_old_connections()
        try:
            return fn(*args)
        finally:
            if not connection.in_atomic_block:
                close_old_connections()

    return call


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await sync_to_async(_with_fresh_connection(fn), thread_sensitive=True)(*args)


def _command_name(message: Message) -> str:
    word = (message.text or "").split(maxsplit=1)[0] if message.text else ""
    return word.lstrip("/").split("@", 1)[0].lower()


class TelegramBot:
    """The handlers of the operators' bot, bound to an allow list."""

    def __init__(self, allowed_chats: Mapping[int, str]) -> None:
        self.allowed = dict(allowed_chats)

    def register(self, app: Application) -> None:
        only_new = filters.UpdateType.MESSAGE  # an edited "/pause" must not pause again
        for name in COMMANDS:
            app.add_handler(CommandHandler(name, self.on_command, filters=only_new))
        app.add_handler(MessageHandler(filters.COMMAND & only_new, self.on_unknown_command))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_error_handler(self.on_error)

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        name = _command_name(message)
        command = COMMANDS[name]
        caller = caller_of(update, self.allowed)
        try:
            if caller.role < command.role:
                await in_thread(record_unauthorized, caller, f"/{name}", command.role)
                reply = Reply(refusal(caller, f"/{name}", command.role))
            else:
                reply = await in_thread(command.run, caller, list(context.args or []))
        except Exception:
            logger.exception("telegram: /%s from chat %s failed", name, caller.chat_id)
            reply = Reply("Something went wrong and the outcome is unknown: check /status before retrying.")
        await message.reply_text(reply.text, reply_markup=keyboard(reply.buttons))

    async def on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        caller = caller_of(update, self.allowed)
        what = f"/{_command_name(message)}"
        if caller.role < Role.VIEWER:
            await in_thread(record_unauthorized, caller, what, Role.VIEWER)
            await message.reply_text(refusal(caller, what, Role.VIEWER))
            return
        await message.reply_text(f"Unknown command {what}. /help lists the commands.")

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        answer = "Something went wrong and the outcome is unknown: check /status."
        try:
            parsed = parse_callback(query.data)
            caller = caller_of(update, self.allowed)
            if parsed is None:
                answer = "This button is not valid any more. Nothing was changed."
                return
            action, arg = parsed
            if caller.role < BUTTON_ROLE:
                await in_thread(record_unauthorized, caller, f"button {action}:{arg}", BUTTON_ROLE)
                answer = refusal(caller, "this button", BUTTON_ROLE)
                return
            outcome = await in_thread(_press, caller, action, arg, time.time())
            answer = outcome.answer
            if outcome.note:
                await self._show_outcome(query, outcome.note)
        except Exception:
            logger.exception("telegram: button press failed")
        finally:
            try:
                await query.answer(answer[:200])  # Telegram shows at most 200 characters
            except TelegramError as exc:
                logger.warning("telegram: could not answer a button press: %s", type(exc).__name__)

    @staticmethod
    async def _show_outcome(query: Any, note: str) -> None:
        """Edit the message under the buttons to show what happened, buttons removed."""
        try:
            if query.inline_message_id:
                await query.edit_message_text(note)
            elif isinstance(query.message, Message):
                original = query.message.text or ""
                await query.edit_message_text(f"{original}\n\n{note}"[:4096])
        except TelegramError as exc:
            logger.warning("telegram: could not edit the message of a button press: %s", exc)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.error("telegram: %s", type(context.error).__name__, exc_info=context.error)


def build_application(
    *, token: str, base_url: str = "", allowed_chats: Mapping[int, str] | None = None
) -> Application:
    """The bot application with its handlers (not started)."""
    builder = Application.builder().token(token).post_init(_set_commands)
    if base_url:
        builder = builder.base_url(base_url)
    app = builder.build()
    TelegramBot(settings.TELEGRAM_ALLOWED_CHATS if allowed_chats is None else allowed_chats).register(app)
    return app


async def _set_commands(app: Application) -> None:
    """The command menu in Telegram's clients; the bot works without it."""
    commands = [BotCommand(name, c.description[:256]) for name, c in COMMANDS.items() if c.listed]
    try:
        await app.bot.set_my_commands(commands)
    except TelegramError as exc:
        logger.warning("telegram: could not set the command menu: %s", exc)


# --- delivery (used by the Celery notification tasks) ------------------------
def send_message(*, chat_id: int, text: str, buttons: Buttons | None = None) -> int:
    """Send one message with the configured token; return its message id.

    Raises the library's errors (``telegram.error``): the caller owns retries.
    """
    return asyncio.run(_send(chat_id, text, buttons))


async def _send(chat_id: int, text: str, buttons: Buttons | None) -> int:
    request = HTTPXRequest(
        connection_pool_size=1,
        connect_timeout=SEND_CONNECT_TIMEOUT,
        read_timeout=SEND_READ_TIMEOUT,
        write_timeout=SEND_READ_TIMEOUT,
        pool_timeout=SEND_CONNECT_TIMEOUT,
    )
    kwargs: dict[str, Any] = {"token": settings.TELEGRAM_BOT_TOKEN, "request": request,
                              "get_updates_request": request}
    if settings.TELEGRAM_BASE_URL:
        kwargs["base_url"] = settings.TELEGRAM_BASE_URL
    bot = Bot(**kwargs)
    await request.initialize()
    try:
        message = await bot.send_message(chat_id=chat_id, text=text[:4096], reply_markup=keyboard(buttons))
    finally:
        await request.shutdown()
    return message.message_id
