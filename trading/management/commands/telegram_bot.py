"""Run the operators' Telegram bot (long polling) until Ctrl-C or SIGTERM.

Commands and buttons go through the same services as the web and the API.
Notifications are sent by the Celery worker, not by this process.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from telegram.error import InvalidToken

from trading.adapters.telegram import ALLOWED_UPDATES, build_application


class RedactToken(logging.Filter):
    """Belt and braces: no log line leaves this process with the bot token in it."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        return True


class Command(BaseCommand):
    help = "Run the Telegram bot (polling) for the operators' commands and buttons."

    def handle(self, *args: Any, **options: Any) -> None:
        token = settings.TELEGRAM_BOT_TOKEN
        if not token:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set: the Telegram bot has nothing to log in with")
        if not settings.TELEGRAM_ALLOWED_CHATS:
            self.stderr.write("warning: TELEGRAM_ALLOWED_CHATS is empty: every command will be refused")
        redact = RedactToken(token)
        for handler in logging.getLogger().handlers:
            handler.addFilter(redact)
        app = build_application(token=token, base_url=settings.TELEGRAM_BASE_URL)
        self.stdout.write(f"Telegram bot polling; {len(settings.TELEGRAM_ALLOWED_CHATS)} allowed chats")
        try:
            app.run_polling(allowed_updates=ALLOWED_UPDATES)
        except InvalidToken:
            # The library's message quotes the token; ours does not.
            raise CommandError("Telegram rejected TELEGRAM_BOT_TOKEN: check it with @BotFather") from None
