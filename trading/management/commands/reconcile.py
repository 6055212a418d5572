"""Reconcile live bots with the exchange by hand: open orders re-read, fills
applied, balances compared (a mismatch blocks the bot until acknowledged)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actors import Actor, Role
from trading.management.lookup import bot_named
from trading.reconcile import reconcile


class Command(BaseCommand):
    help = "Reconcile live bots (or --bot NAME) with Binance: orders, fills, balances."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", help="the bot's name (default: every live bot)")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = None
        if options["bot"]:
            bot = bot_named(options["bot"])
        reports = reconcile(actor=Actor(name="command:reconcile", role=Role.SYSTEM), bot=bot)
        if not reports:
            self.stdout.write("no live bot to reconcile")
        failed = False
        for report in reports:
            if report.error:
                failed = True
                self.stdout.write(f"{report.bot}: FAILED: {report.error}")
            elif report.skipped:
                self.stdout.write(f"{report.bot}: skipped: {report.skipped}")
            else:
                self.stdout.write(
                    f"{report.bot}: {report.orders_checked} open order(s) checked, {report.orders_changed} "
                    f"changed, {report.fills_applied} fill(s) applied"
                    + (f", canceled {', '.join(report.canceled)}" if report.canceled else "")
                    + ("; TRADING BLOCKED (see acknowledge_mismatch)" if report.blocked else "")
                )
        if failed:
            raise CommandError("the exchange could not be read for every bot; nothing was assumed")
