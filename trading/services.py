"""Write services of the trading app: users' roles, bots and their config
versions, and a cycle run by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Group, User
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction

from audit.actors import Actor
from audit.services import record
from trading.models import Bot, BotConfig
from trading.validation import Conflict, InvalidInput, validate_config

if TYPE_CHECKING:
    from trading.cycle import CycleOutcome

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
            raise InvalidInput({field: ["needed: the bot has no config version yet"] for field in missing})
        merged = validate_config(merged)
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


BOT_UPDATABLE_FIELDS = ("enabled", "schedule_interval_seconds")


def bot_create(
    *,
    actor: Actor,
    author: User | None,
    name: str,
    config: dict[str, Any],
    note: str = "",
    **fields: Any,
) -> Bot:
    """Create a bot and its first config version (v1, active) in one transaction.

    ``fields`` are the bot's own columns (``quote_asset``, ``initial_cash``,
    ``enabled``, ``schedule_interval_seconds``); its cash and peak equity start
    at the initial cash.
    """
    unknown = set(fields) - {"quote_asset", "initial_cash", "enabled", "schedule_interval_seconds"}
    if unknown:
        raise ValueError(f"unknown bot fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        if Bot.objects.filter(name=name).exists():
            raise InvalidInput({"name": [f"a bot named {name} already exists"]})
        bot = Bot(name=name, **fields)
        bot.cash = bot.initial_cash
        bot.peak_equity = bot.initial_cash
        try:
            with transaction.atomic():
                bot.save()
        except IntegrityError:  # created by someone else since the check above
            raise InvalidInput({"name": [f"a bot named {name} already exists"]}) from None
        record(
            "trading.bot.created",
            actor,
            note or f"bot {name} created",
            inputs={"name": name, **fields},
            result={"bot_id": bot.pk},
            bot=bot,
        )
        bot_config_create(
            bot=bot, actor=actor, author=author, source=BotConfig.Source.MANUAL, note=note, **config
        )
    return bot


def bot_update(*, bot: Bot, actor: Actor, note: str = "", **changes: Any) -> Bot:
    """Change a bot's switches (``enabled``, ``schedule_interval_seconds``), audited."""
    unknown = set(changes) - set(BOT_UPDATABLE_FIELDS)
    if unknown:
        raise ValueError(f"these bot fields cannot be changed: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = Bot.objects.select_for_update().get(pk=bot.pk)
        before = {field: getattr(locked, field) for field in changes}
        for field, value in changes.items():
            setattr(locked, field, value)
        if changes:
            locked.save(update_fields=list(changes))
        record(
            "trading.bot.updated",
            actor,
            note or f"bot {locked.name} updated",
            inputs={"changes": changes},
            result={"before": before, "after": {field: getattr(locked, field) for field in changes}},
            bot=locked,
        )
    return locked


class RollbackRefused(Exception):
    """A rollback that names no version or would change nothing: nothing was written."""


class RollbackVersionMissing(RollbackRefused, ObjectDoesNotExist):
    pass


class RollbackAlreadyActive(RollbackRefused, Conflict):
    pass


def bot_config_rollback(
    *, bot: Bot, version: int, actor: Actor, author: User | None = None, note: str = ""
) -> BotConfig:
    """Make a new active version that copies version ``version`` (``source=rollback``).

    History is never rewritten: the old version stays as it was and the new
    one points back to it through ``rolled_back_to``.
    """
    target = BotConfig.objects.filter(bot=bot, version=version).first()
    if target is None:
        raise RollbackVersionMissing(f"{bot.name} has no config version {version}")
    if target.is_active:
        raise RollbackAlreadyActive(
            f"version {version} is already {bot.name}'s active config", code="already_active"
        )
    return bot_config_create(
        bot=bot,
        actor=actor,
        author=author,
        source=BotConfig.Source.ROLLBACK,
        note=note or f"rollback of {bot.name} to v{version}",
        rolled_back_to=target,
        **config_snapshot(target),
    )


def cycle_trigger(*, bot: Bot, actor: Actor) -> CycleOutcome:
    """One cycle of ``bot`` now, asked for by a person (a page button, the API).

    The cycle itself decides everything (single flight, one action per candle,
    the system state and the risk engine still gate any order). An exchange or
    market data failure that escapes it becomes a ``failed`` outcome, recorded
    as ``trading.cycle.failed``, so the person who asked gets a sentence rather
    than an error page.
    """
    from trading import clock
    from trading.adapters.errors import ExchangeError
    from trading.cycle import CycleOutcome, run_cycle

    now = clock.now()
    try:
        return run_cycle(bot, now, actor)
    except ExchangeError as exc:
        message = f"market data or the exchange failed: {exc}"
        record(
            "trading.cycle.failed",
            actor,
            message,
            inputs={"now": now, "trigger": "manual"},
            result={"error": type(exc).__name__},
            bot=bot,
        )
        return CycleOutcome("failed", message)
