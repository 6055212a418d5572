"""Write services of the trading app: users' roles, bots and their config versions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction

from audit.actors import Actor
from audit.services import record
from trading.models import Bot, BotConfig

ROLE_NAMES = ("viewer", "operator", "admin")


def user_set_role(*, user: User, role: str) -> User:
    """Put ``user`` in exactly one role group. Staff so the admin site lets them in."""
    if role not in ROLE_NAMES:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLE_NAMES)}")
    group = Group.objects.get(name=role)
    current = set(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
    if user.is_staff and current == {role}:
        return user
    with transaction.atomic():
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        user.groups.remove(*Group.objects.filter(name__in=ROLE_NAMES).exclude(pk=group.pk))
        user.groups.add(group)
        record(
            "auth.user.role_set",
            Actor.system(),
            f"{user.username} is now {role}",
            inputs={"username": user.username, "role": role, "previous": sorted(current)},
        )
    return user


CONFIG_FIELDS = ("symbol", "timeframe", "strategy", "strategy_params", "risk_limits", "mode")


def config_snapshot(config: BotConfig) -> dict[str, Any]:
    return {field: getattr(config, field) for field in CONFIG_FIELDS}


def bot_config_create(
    *,
    bot: Bot,
    actor: Actor,
    source: str,
    note: str = "",
    author: User | None = None,
    rolled_back_to: BotConfig | None = None,
    **values: Any,
) -> BotConfig:
    """Write a new active config version of ``bot`` with ``values`` over the current one.

    The bot row is locked so that two writers get consecutive versions and
    exactly one active row.
    """
    unknown = set(values) - set(CONFIG_FIELDS)
    if unknown:
        raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        Bot.objects.select_for_update().get(pk=bot.pk)
        current = BotConfig.objects.filter(bot=bot, is_active=True).first()
        merged = config_snapshot(current) if current else {}
        merged.update(values)
        missing = [f for f in ("symbol", "timeframe", "strategy") if not merged.get(f)]
        if missing:
            raise ValueError(f"a first config version needs: {', '.join(missing)}")
        last = BotConfig.objects.filter(bot=bot).order_by("-version").values_list("version", flat=True).first()
        if current:
            BotConfig.objects.filter(pk=current.pk).update(is_active=False)
        config = BotConfig.objects.create(
            bot=bot,
            version=(last or 0) + 1,
            is_active=True,
            author=author,
            author_name=actor.name,
            source=source,
            note=note,
            rolled_back_to=rolled_back_to,
            **merged,
        )
        record(
            "trading.config.created",
            actor,
            note or f"{bot.name} config v{config.version} ({source})",
            inputs={"source": source, "previous_version": current.version if current else None,
                    "values": values},
            result={"version": config.version, "config": config_snapshot(config)},
            bot=bot,
        )
    return config


class RollbackRefused(ValueError):
    """A rollback that would do nothing or names no version: nothing was written."""


def bot_config_rollback(*, bot: Bot, version: int, actor: Actor, user: User | None = None) -> BotConfig:
    """Make ``version``'s settings active again, as a new version (``source=rollback``).

    History is never rewritten: the old row stays as it was and the new one
    points at it through ``rolled_back_to``.
    """
    target = BotConfig.objects.filter(bot=bot, version=version).first()
    if target is None:
        raise RollbackRefused(f"{bot.name} has no config version {version}")
    if target.is_active:
        raise RollbackRefused(f"version {version} is already {bot.name}'s active config")
    return bot_config_create(
        bot=bot,
        actor=actor,
        source=BotConfig.Source.ROLLBACK,
        note=f"rollback of {bot.name} to v{version}",
        author=user,
        rolled_back_to=target,
        **config_snapshot(target),
    )
