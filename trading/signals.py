"""Keep each bot's periodic task in step with the bot, whatever path changed it
(service, admin, shell): created with the bot, updated when it or its active
config changes, removed with it."""

from __future__ import annotations

from typing import Any

from trading.models import Bot, BotConfig


def bot_saved(sender: type[Bot], instance: Bot, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    from trading.scheduling import bot_schedule_sync

    bot_schedule_sync(bot=instance)


def config_saved(sender: type[BotConfig], instance: BotConfig, raw: bool = False, **kwargs: Any) -> None:
    if raw or not instance.is_active:
        return
    from trading.scheduling import bot_schedule_sync

    bot_schedule_sync(bot=instance.bot)


def bot_deleted(sender: type[Bot], instance: Bot, **kwargs: Any) -> None:
    from trading.scheduling import bot_schedule_remove

    bot_schedule_remove(bot=instance)
