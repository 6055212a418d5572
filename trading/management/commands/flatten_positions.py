"""Sell a live bot's whole position at market (admin), through every live gate."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actors import Actor, Role
from trading.live_orders import positions_flatten
from trading.management.lookup import bot_named
from tradingsite.errors import ServiceError


class Command(BaseCommand):
    help = "Flatten a live bot: cancel its open orders and sell its position at market (needs --confirm)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", required=True, help="the bot's name")
        parser.add_argument("--confirm", action="store_true", help="yes, sell it all at market")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = bot_named(options["bot"])
        try:
            order = positions_flatten(
                bot=bot, actor=Actor(name="command:flatten_positions", role=Role.ADMIN), confirm=options["confirm"]
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"{order.side} {order.quantity} {order.symbol}: {order.status} "
            f"(filled {order.filled_quantity} @ {order.avg_fill_price}, {order.client_order_id})"
        )
