"""Run a bot's live cycles one candle after another over history, with a
simulated clock, through the database path: watch a strategy trade on history."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actors import Actor, Role
from trading import timeframes
from trading.cycle import run_cycle
from trading.management.lookup import bot_named
from trading.models import BotConfig, Candle


def parse_time(value: str, flag: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{flag} {value!r} is not a date or ISO time (e.g. 2025-06-01T12:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Replay a bot's cycles over cached history (paper), candle by candle."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", required=True)
        parser.add_argument("--from", dest="start", help="first candle (default: the first cached)")
        parser.add_argument("--to", dest="end", help="last candle (default: the last cached)")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = bot_named(options["bot"])
        config = BotConfig.objects.filter(bot=bot, is_active=True).first()
        if config is None:
            raise CommandError(f"bot {bot.name} has no active configuration")
        if config.mode != "paper":
            raise CommandError(f"bot {bot.name} is in {config.mode} mode: replay runs paper bots only")
        candles = Candle.objects.filter(symbol=config.symbol, timeframe=config.timeframe)
        if options["start"]:
            candles = candles.filter(open_time__gte=parse_time(options["start"], "--from"))
        if options["end"]:
            candles = candles.filter(open_time__lte=parse_time(options["end"], "--to"))
        times = list(candles.order_by("open_time").values_list("open_time", flat=True))
        if not times:
            raise CommandError(
                f"no cached {config.symbol} {config.timeframe} candles in that range: run import_candles first"
            )
        step = timedelta(seconds=timeframes.seconds(config.timeframe))
        actor = Actor(name="command:replay", role=Role.SYSTEM)
        bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(times), unit="candle", file=sys.stderr, leave=False)
        counts: dict[str, int] = {}
        orders = 0
        for open_time in times:
            # the cycle runs the moment the candle closes
            outcome = run_cycle(bot, open_time + step, actor)
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            orders += outcome.order is not None
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        bot.refresh_from_db()
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        self.stdout.write(f"replayed {len(times)} candles of {config.symbol} {config.timeframe}: {summary}; "
                          f"{orders} orders; cash {bot.cash} {bot.quote_asset}")
