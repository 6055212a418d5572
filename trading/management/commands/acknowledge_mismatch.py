"""Acknowledge a live bot's balance mismatch (operator), which unblocks it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actors import Actor, Role
from trading.management.lookup import bot_named
from trading.reconcile import MismatchError, mismatch_acknowledge


class Command(BaseCommand):
    help = "Acknowledge a bot's balance mismatch with a note; the difference is accepted and the bot unblocked."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", required=True, help="the bot's name")
        parser.add_argument("--note", required=True, help="what was checked, and why trading may go on")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = bot_named(options["bot"])
        try:
            mismatches = mismatch_acknowledge(
                bot=bot, actor=Actor(name="command:acknowledge_mismatch", role=Role.OPERATOR), note=options["note"]
            )
        except MismatchError as exc:
            raise CommandError(exc.message) from None
        for m in mismatches:
            self.stdout.write(f"acknowledged: {m.asset} exchange {m.exchange_quantity} vs books "
                              f"{m.local_quantity} (difference {m.difference} now accepted)")
        self.stdout.write(f"{bot.name} is unblocked")
