"""Reads of the trading app for the API and the pages (no writes here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from trading.config_diff import diff_values
from trading.models import (
    Bot,
    BotConfig,
    EquitySnapshot,
    Fill,
    MetricsSnapshot,
    Order,
    Position,
)
from trading.services import config_snapshot


def bot_list() -> QuerySet[Bot]:
    active = BotConfig.objects.filter(is_active=True)
    return Bot.objects.prefetch_related(Prefetch("configs", queryset=active, to_attr="active_configs"))


def bot_get(*, bot_id: int) -> Bot:
    bot = bot_list().filter(pk=bot_id).first()
    if bot is None:
        raise Http404(f"no bot with id {bot_id}")
    return bot


def bot_config_list(*, bot: Bot) -> QuerySet[BotConfig]:
    return BotConfig.objects.filter(bot=bot).select_related("rolled_back_to").order_by("-version")


def bot_config_get(*, bot: Bot, version: int) -> BotConfig:
    config = bot_config_list(bot=bot).filter(version=version).first()
    if config is None:
        raise Http404(f"{bot.name} has no config version {version}")
    return config


def bot_config_diff(*, bot: Bot, from_version: int, to_version: int) -> dict[str, Any]:
    before = bot_config_get(bot=bot, version=from_version)
    after = bot_config_get(bot=bot, version=to_version)
    return {
        "bot": bot.pk,
        "from_version": from_version,
        "to_version": to_version,
        "changes": diff_values(config_snapshot(before), config_snapshot(after)),
    }


def _filtered(
    queryset: QuerySet[Any],
    time_field: str,
    *,
    bot: int | None = None,
    symbol: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Any]:
    if bot is not None:
        queryset = queryset.filter(bot_id=bot)
    if symbol:
        queryset = queryset.filter(symbol=symbol)
    if since is not None:
        queryset = queryset.filter(**{f"{time_field}__gte": since})
    if until is not None:
        queryset = queryset.filter(**{f"{time_field}__lt": until})
    return queryset


def order_list(**filters: Any) -> QuerySet[Order]:
    return _filtered(Order.objects.all(), "created_at", **filters)


def fill_list(**filters: Any) -> QuerySet[Fill]:
    return _filtered(Fill.objects.select_related("order"), "filled_at", **filters)


def position_list(**filters: Any) -> QuerySet[Position]:
    return _filtered(Position.objects.all(), "updated_at", **filters)


def equity_snapshot_list(**filters: Any) -> QuerySet[EquitySnapshot]:
    return _filtered(EquitySnapshot.objects.all(), "taken_at", **filters)


def metrics_snapshot_list(**filters: Any) -> QuerySet[MetricsSnapshot]:
    return _filtered(MetricsSnapshot.objects.all(), "taken_at", **filters)


def login_lockout_list() -> QuerySet[AccessAttempt]:
    """Username+address pairs locked out of logging in right now."""
    return AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gt=timezone.now() - settings.AXES_COOLOFF_TIME,
    ).order_by("-attempt_time")
