"""Switch a bot between paper and live (admin) as a new, audited config version."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actors import Actor, Role
from trading.management.lookup import bot_named
from trading.models import Mode
from trading.services import ModeChangeRefused, bot_set_mode
from trading.validation import InvalidInput


class Command(BaseCommand):
    help = "Set a bot's mode (paper or live). Live orders still need every other gate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", required=True, help="the bot's name")
        parser.add_argument("--mode", required=True, choices=Mode.values)
        parser.add_argument("--note", default="", help="why")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = bot_named(options["bot"])
        try:
            config = bot_set_mode(bot=bot, mode=options["mode"], note=options["note"],
                                  actor=Actor(name="command:set_bot_mode", role=Role.ADMIN))
        except ModeChangeRefused as exc:
            raise CommandError(exc.message) from None
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{bot.name} is in {config.mode} mode (config v{config.version})")
