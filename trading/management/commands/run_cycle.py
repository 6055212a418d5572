"""Run one trading cycle of a bot by hand and print what it decided and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actors import Actor
from trading import clock
from trading.cycle import run_cycle
from trading.management.lookup import bot_named


def parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--at {value!r} is not an ISO time such as 2025-06-01T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Run one trading cycle of a bot now (or --at a past time on replayed data)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", required=True, help="the bot's name")
        parser.add_argument("--at", help="the cycle's time, ISO 8601 UTC (default: the clock's now)")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = bot_named(options["bot"])
        now = parse_time(options["at"]) if options["at"] else clock.now()
        outcome = run_cycle(bot, now, Actor(name="command:run_cycle", role=Actor.system().role))
        if outcome.status == "skipped":
            self.stdout.write(f"skipped: {outcome.message}")
            return
        run = outcome.cycle
        assert run is not None
        self.stdout.write(f"candle {run.candle_time:%Y-%m-%d %H:%M} UTC, config v{run.config.version}")
        self.stdout.write(f"signal:   {run.signal} — {run.signal_reason}")
        reasons = "; ".join(r["message"] for r in run.decision_reasons) or "no objection"
        self.stdout.write(f"decision: {run.decision} {run.decision_quantity or ''} — {reasons}")
        if outcome.order is not None:
            order = outcome.order
            self.stdout.write(
                f"order:    {order.side} {order.filled_quantity} {order.symbol} @ {order.avg_fill_price} "
                f"fee {order.fee_total} ({order.status}, {order.client_order_id})"
            )
        self.stdout.write(f"result:   {run.detail}")
