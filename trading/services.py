"""Write services of the trading app: users' roles, bots and their config
versions, and a cycle run by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction

from audit.actors import Actor, Role
from audit.services import record
from trading.models import Bot, BotConfig, Mode, Order, Position
from trading.validation import Conflict, InvalidInput, validate_config
from tradingsite.errors import ServiceError

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
    before = BotConfig.objects.filter(bot=bot, is_active=True).first()
    if "mode" in values and values["mode"] != (before.mode if before else Mode.PAPER):
        # Every path that writes a config (by hand, an approval, a rollback)
        # comes here, so none of them can switch a bot to live but an admin.
        _check_mode_change(bot=bot, config=before, mode=values["mode"], actor=actor)
    with transaction.atomic():
        Bot.objects.select_for_update().get(pk=bot.pk)
        current = BotConfig.objects.filter(bot=bot, is_active=True).first()
        if current is not None and before is not None and current.pk != before.pk and "mode" in values:
            raise ModeChangeRefused(f"{bot.name}'s configuration changed meanwhile; try again")
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


class ModeChangeRefused(ServiceError):
    """A change of a bot's mode (paper/live) that was not allowed; nothing was written."""

    http_status = 409
    code = "mode_change_refused"


class ModeChangeForbidden(ModeChangeRefused):
    http_status = 403
    code = "role_not_allowed"


def _check_mode_change(*, bot: Bot, config: BotConfig | None, mode: str, actor: Actor) -> None:
    """Only an admin switches a bot between paper and live, and only when the bot
    holds nothing and has no order open: a paper position is not on the
    exchange, and a live one must not be sold by the paper engine."""
    if mode not in Mode.values or (mode == Mode.LIVE and not settings.LIVE_TRADING_ENABLED):
        return  # not a mode this installation takes: validate_config answers with a field error
    if actor.role != Role.ADMIN:
        refusal = ModeChangeForbidden(f"{actor.role.label} may not switch {bot.name} to {mode}: needs admin")
        record("trading.config.refused", actor, refusal.message, inputs={"mode": mode},
               result={"error": refusal.code}, bot=bot)
        raise refusal
    problem = ""
    open_orders = Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES).count()
    if open_orders:
        problem = f"{bot.name} has {open_orders} order(s) still open or unresolved"
    elif config is not None:
        held = Position.objects.filter(bot=bot, quantity__gt=0).first()
        if held is not None and not _is_dust(held.symbol, held.quantity):
            problem = f"{bot.name} holds {held.quantity} {held.symbol}: close or flatten it first"
    if problem:
        refusal = ModeChangeRefused(f"cannot switch {bot.name} to {mode}: {problem}")
        record("trading.config.refused", actor, refusal.message, inputs={"mode": mode},
               result={"error": refusal.code}, bot=bot)
        raise refusal


def _is_dust(symbol: str, quantity: Decimal) -> bool:
    """Less than one step of the symbol: nothing the exchange would let anyone sell."""
    from trading import market_data
    from trading.adapters.errors import ExchangeError

    try:
        step = market_data.market_rules(symbol).step_size
    except (ExchangeError, LookupError, OSError, ValueError):  # no rules to tell by: a holding
        return False
    return step > 0 and quantity < step


def bot_set_mode(*, bot: Bot, mode: str, actor: Actor, note: str = "", user: User | None = None) -> BotConfig:
    """Switch a bot between paper and live (admin only) as a new, audited config version.

    Live trading still needs every other gate (``LIVE_TRADING_ENABLED``, API
    credentials, the system RUNNING, the per-order cap) before any order is sent.
    """
    current = BotConfig.objects.filter(bot=bot, is_active=True).first()
    if current is None:
        raise ModeChangeRefused(f"{bot.name} has no configuration yet")
    if current.mode == mode:
        raise ModeChangeRefused(f"{bot.name} is already in {mode} mode")
    return bot_config_create(
        bot=bot, actor=actor, source=BotConfig.Source.MANUAL, author=user,
        note=note or f"{bot.name}: mode {current.mode} → {mode} by {actor.name}", mode=mode,
    )


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
    """One cycle of ``bot`` now (the clock's now), asked for by a person: a page
    button or the API. It is the scheduler's very cycle: single flight, one
    action per candle, the system state and the risk engine in front of any
    order, and an exchange failure recorded and answered as a skipped cycle."""
    from trading import clock
    from trading.cycle import run_cycle

    return run_cycle(bot, clock.now(), actor)
