"""Admin-only live services: switching a bot's mode, flattening its
position, their commands and admin actions; the live engine's interface."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.actors import Actor
from audit.models import Event
from tests.factories import BotConfigFactory
from tests.live_support import (
    ADMIN,
    OPERATOR,
    SYMBOL,
    D,
    buy_then_sell_path,
    live_orders,
    make_live_bot,
    minute,
)
from trading.execution.live import Gate, LiveExecutionEngine, LiveOrderRefused
from trading.execution.paper import OrderRequest
from trading.live_orders import FlattenNotConfirmed, NothingToFlatten, live_order_place, positions_flatten
from trading.models import BotConfig, Order, Position
from trading.services import ModeChangeForbidden, ModeChangeRefused, bot_config_rollback, bot_set_mode


@pytest.fixture
def live_enabled(settings):  # type: ignore[no-untyped-def]
    settings.LIVE_TRADING_ENABLED = True


@pytest.mark.django_db
def test_a_bot_cannot_go_live_while_live_trading_is_switched_off(settings) -> None:  # type: ignore[no-untyped-def]
    from trading.validation import InvalidInput

    settings.LIVE_TRADING_ENABLED = False
    config = BotConfigFactory(mode="paper", version=1)
    with pytest.raises(InvalidInput, match="LIVE_TRADING_ENABLED"):
        bot_set_mode(bot=config.bot, mode="live", actor=ADMIN)
    assert BotConfig.objects.get(bot=config.bot, is_active=True).mode == "paper"


@pytest.mark.django_db
@pytest.mark.usefixtures("live_enabled")
def test_only_an_admin_switches_a_bot_to_live_as_an_audited_config_version() -> None:
    config = BotConfigFactory(mode="paper", version=1)
    bot = config.bot
    with pytest.raises(ModeChangeForbidden):
        bot_set_mode(bot=bot, mode="live", actor=OPERATOR)
    refused = Event.objects.get(type="trading.config.refused")
    assert refused.actor == "operator" and refused.inputs == {"mode": "live"}
    assert BotConfig.objects.get(bot=bot, is_active=True).mode == "paper"

    live_config = bot_set_mode(bot=bot, mode="live", actor=ADMIN, note="go live")
    assert live_config.mode == "live" and live_config.version == 2 and live_config.author_name == "admin"
    created = Event.objects.filter(type="trading.config.created").latest("seq")
    assert created.result["config"]["mode"] == "live" and created.inputs["values"] == {"mode": "live"}
    with pytest.raises(ModeChangeRefused, match="already in live mode"):
        bot_set_mode(bot=bot, mode="live", actor=ADMIN)


@pytest.mark.django_db
@pytest.mark.usefixtures("live_enabled")
def test_a_rollback_cannot_switch_a_bot_to_live_unless_an_admin_does_it() -> None:
    config = BotConfigFactory(mode="live", version=1)
    bot_set_mode(bot=config.bot, mode="paper", actor=ADMIN)
    with pytest.raises(ModeChangeForbidden):
        bot_config_rollback(bot=config.bot, version=1, actor=OPERATOR)
    assert BotConfig.objects.get(bot=config.bot, is_active=True).mode == "paper"
    assert bot_config_rollback(bot=config.bot, version=1, actor=ADMIN).mode == "live"


@pytest.mark.django_db
@pytest.mark.usefixtures("live_enabled")
def test_the_mode_does_not_change_while_the_bot_holds_a_position_or_open_orders() -> None:
    config = BotConfigFactory(mode="paper", version=1, symbol=SYMBOL)
    Position.objects.create(bot=config.bot, symbol=SYMBOL, quantity=D("0.01"), cost_basis=D("1000"))
    with pytest.raises(ModeChangeRefused, match="holds 0.01"):
        bot_set_mode(bot=config.bot, mode="live", actor=ADMIN)
    # dust below one step does not count
    Position.objects.filter(bot=config.bot).update(quantity=D("0.000001"))
    assert bot_set_mode(bot=config.bot, mode="live", actor=ADMIN).mode == "live"
    Order.objects.create(bot=config.bot, client_order_id="tb-open-1", symbol=SYMBOL, side="BUY", mode="live",
                         quantity=D("0.001"), status=Order.Status.UNKNOWN, created_at=config.created_at)
    with pytest.raises(ModeChangeRefused, match="still open or unresolved"):
        bot_set_mode(bot=config.bot, mode="paper", actor=ADMIN)


@pytest.mark.django_db
@pytest.mark.usefixtures("live_enabled")
def test_set_bot_mode_command() -> None:
    config = BotConfigFactory(mode="paper", version=1)
    out = io.StringIO()
    call_command("set_bot_mode", "--bot", config.bot.name, "--mode", "live", stdout=out)
    assert "live mode (config v2)" in out.getvalue()
    with pytest.raises(CommandError, match="already in live mode"):
        call_command("set_bot_mode", "--bot", config.bot.name, "--mode", "live")


def test_flattening_needs_an_admin_and_a_confirmation_then_sells_everything(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.at(minute(0))
    live_env.cycle(bot, minute(0))
    resting_sell = live_order_place(bot=bot, side="SELL", quantity=D("0.005"), price=D("150000"), actor=ADMIN)
    assert resting_sell.status == Order.Status.OPEN
    with pytest.raises(LiveOrderRefused) as refused:
        positions_flatten(bot=bot, actor=OPERATOR, confirm=True)
    assert refused.value.gate == Gate.ADMIN_ONLY and refused.value.http_status == 403
    with pytest.raises(FlattenNotConfirmed):
        positions_flatten(bot=bot, actor=ADMIN, confirm=False)
    posted = live_env.orders_posted()

    order = positions_flatten(bot=bot, actor=ADMIN, confirm=True)
    resting_sell.refresh_from_db()
    assert resting_sell.status == Order.Status.CANCELED  # canceled first: it held part of the position
    assert order.side == "SELL" and order.order_type == "MARKET" and order.status == Order.Status.FILLED
    assert order.quantity == D("0.00989")
    assert live_env.orders_posted() == posted + 1
    position = Position.objects.get(bot=bot, symbol=SYMBOL)
    assert position.quantity == live_env.fake.balance("BTC")[0] < D("0.00001")
    assert Event.objects.filter(type="trading.positions.flatten", actor="admin").count() == 1
    with pytest.raises(NothingToFlatten):
        positions_flatten(bot=bot, actor=ADMIN, confirm=True)


def test_flattening_goes_through_the_gates(live_env, settings) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    Position.objects.create(bot=bot, symbol=SYMBOL, quantity=D("0.01"), cost_basis=D("1000"))
    settings.LIVE_TRADING_ENABLED = False
    with pytest.raises(LiveOrderRefused) as refused:
        positions_flatten(bot=bot, actor=ADMIN, confirm=True)
    assert refused.value.gate == Gate.LIVE_TRADING_ENABLED
    assert live_env.requests() == 0


def test_flatten_positions_command(live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    Position.objects.create(bot=bot, symbol=SYMBOL, quantity=D("0.01"), cost_basis=D("1000"))
    live_env.fake.free["BTC"] = D("0.01")
    with pytest.raises(CommandError, match="confirm"):
        call_command("flatten_positions", "--bot", bot.name)
    out = io.StringIO()
    call_command("flatten_positions", "--bot", bot.name, "--confirm", stdout=out)
    assert "SELL 0.01" in out.getvalue() and "FILLED" in out.getvalue()
    assert [o.side for o in live_orders(bot)] == ["SELL"]


def test_the_live_engine_has_the_paper_engines_interface(live_env) -> None:  # type: ignore[no-untyped-def]
    engine = LiveExecutionEngine()
    market = engine.submit(OrderRequest("tb-engine-1", SYMBOL, "BUY", "MARKET", D("0.001")))
    assert market.status == "FILLED" and market.filled_quantity == D("0.001")
    assert market.fills[0].fee_asset == "BTC" and market.fills[0].trade_id
    limit = engine.submit(OrderRequest("tb-engine-2", SYMBOL, "BUY", "LIMIT", D("0.001"), D("50000")))
    assert limit.status == "OPEN" and not limit.fills
    assert engine.cancel("tb-engine-2", symbol=SYMBOL) is True
    assert engine.cancel("tb-engine-2", symbol=SYMBOL) is False  # no longer open
    refused = engine.submit(OrderRequest("tb-engine-3", SYMBOL, "BUY", "MARKET", D("1000")))
    assert refused.status == "REJECTED" and "insufficient balance" in refused.reason


# --- admin actions --------------------------------------------------------------------
def action(client, bot, name, **extra):  # type: ignore[no-untyped-def]
    return client.post("/admin/trading/bot/", {"action": name, "_selected_action": [bot.pk], **extra})


def test_admin_action_flattens_only_after_the_confirmation_page(client, admin_user, live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    Position.objects.create(bot=bot, symbol=SYMBOL, quantity=D("0.01"), cost_basis=D("1000"))
    live_env.fake.free["BTC"] = D("0.01")
    client.force_login(admin_user)
    page = action(client, bot, "flatten_positions")
    assert page.status_code == 200 and b"Yes, I confirm" in page.content
    unconfirmed = action(client, bot, "flatten_positions", post="yes")
    assert b"Tick the confirmation box" in unconfirmed.content and live_env.orders_posted() == 0
    done = action(client, bot, "flatten_positions", post="yes", confirm="on")
    assert done.status_code == 302
    [order] = live_orders(bot)
    assert order.side == "SELL" and order.status == Order.Status.FILLED
    assert Event.objects.get(type="trading.positions.flatten").actor == "admin"


def test_admin_action_acknowledges_a_mismatch_with_a_note(client, operator, db) -> None:  # type: ignore[no-untyped-def]
    config = BotConfigFactory(mode="live", version=1)
    bot = config.bot
    type(bot).objects.filter(pk=bot.pk).update(trading_blocked_reason="balance mismatch: test")
    client.force_login(operator)
    page = action(client, bot, "acknowledge_mismatch", post="yes")
    assert b"A note is required" in page.content
    bot.refresh_from_db()
    assert bot.trading_blocked_reason
    action(client, bot, "acknowledge_mismatch", post="yes", note="checked the account")
    bot.refresh_from_db()
    assert bot.trading_blocked_reason == ""
    assert Event.objects.get(type="trading.balance.acknowledged").actor == "operator"


def test_mode_and_flatten_actions_are_offered_to_admins_only(client, operator, admin_user, db) -> None:  # type: ignore[no-untyped-def]
    BotConfigFactory(mode="paper", version=1)
    client.force_login(operator)
    offered = client.get("/admin/trading/bot/").content.decode()
    assert "acknowledge_mismatch" in offered
    assert "set_mode_live" not in offered and "flatten_positions" not in offered
    client.force_login(admin_user)
    offered = client.get("/admin/trading/bot/").content.decode()
    assert "set_mode_live" in offered and "flatten_positions" in offered


def test_admin_action_switches_a_bot_to_live(client, admin_user, live_enabled) -> None:  # type: ignore[no-untyped-def]
    config = BotConfigFactory(mode="paper", version=1)
    client.force_login(admin_user)
    action(client, config.bot, "set_mode_live", post="yes", confirm="on", note="go")
    active = BotConfig.objects.get(bot=config.bot, is_active=True)
    assert active.mode == "live" and active.author_name == "admin" and active.note == "go"
    assert active.author == admin_user


def test_the_block_reason_cannot_be_edited_away_in_the_admin(client, admin_user, db) -> None:  # type: ignore[no-untyped-def]
    config = BotConfigFactory(mode="live", version=1)
    type(config.bot).objects.filter(pk=config.bot.pk).update(trading_blocked_reason="balance mismatch: x")
    client.force_login(admin_user)
    page = client.get(f"/admin/trading/bot/{config.bot.pk}/change/").content.decode()
    assert 'name="trading_blocked_reason"' not in page


def test_an_actor_of_the_system_cannot_place_manual_orders(live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    with pytest.raises(LiveOrderRefused) as refused:
        live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=None, actor=Actor.system())
    assert refused.value.gate == Gate.ADMIN_ONLY
