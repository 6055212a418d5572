"""What the management commands share."""

from __future__ import annotations

from django.core.management.base import CommandError

from trading.models import Bot


def bot_named(name: str) -> Bot:
    """The bot called ``name``; else a one-line CommandError that lists the bots there are."""
    bot = Bot.objects.filter(name=name).first()
    if bot is None:
        names = ", ".join(Bot.objects.order_by("name").values_list("name", flat=True)) or "none"
        raise CommandError(f"no bot named {name!r} (bots: {names})")
    return bot
