"""Rolling a bot's config back: a new version that copies an old one, never an edit."""

from __future__ import annotations

import pytest

from audit.actors import Actor
from audit.models import Event
from tests.factories import BotFactory
from trading.models import BotConfig
from trading.services import RollbackRefused, bot_config_create, bot_config_rollback


@pytest.fixture
def bot(db):  # type: ignore[no-untyped-def]
    bot = BotFactory(name="trend")
    system = Actor.system()
    bot_config_create(
        bot=bot, actor=system, source=BotConfig.Source.SEED, symbol="BTCUSDT", timeframe="1h",
        strategy="sma_cross", strategy_params={"fast": 10, "slow": 30}, risk_limits={"max_position_pct_equity": "0.5"},
    )
    bot_config_create(bot=bot, actor=system, source=BotConfig.Source.MANUAL, strategy_params={"fast": 5, "slow": 30})
    bot_config_create(bot=bot, actor=system, source=BotConfig.Source.MANUAL, timeframe="4h")
    return bot


@pytest.mark.django_db
def test_rollback_writes_a_new_active_version_with_the_old_settings(bot, admin_user) -> None:  # type: ignore[no-untyped-def]
    config = bot_config_rollback(bot=bot, version=1, actor=Actor.for_user(admin_user), author=admin_user)

    assert config.version == 4
    assert config.is_active
    assert config.source == BotConfig.Source.ROLLBACK
    assert config.rolled_back_to == BotConfig.objects.get(bot=bot, version=1)
    assert (config.timeframe, config.strategy_params) == ("1h", {"fast": 10, "slow": 30})
    assert config.author == admin_user and config.author_name == "admin"
    assert list(BotConfig.objects.filter(bot=bot, is_active=True).values_list("version", flat=True)) == [4]
    # History is untouched.
    assert BotConfig.objects.get(bot=bot, version=3).timeframe == "4h"


@pytest.mark.django_db
def test_rollback_is_recorded_as_a_config_event(bot, admin_user) -> None:  # type: ignore[no-untyped-def]
    bot_config_rollback(bot=bot, version=2, actor=Actor.for_user(admin_user), author=admin_user)
    event = Event.objects.filter(type="trading.config.created").order_by("-seq").first()
    assert event.actor == "admin"
    assert event.inputs["source"] == "rollback"
    assert event.inputs["previous_version"] == 3
    assert event.result["version"] == 4
    assert event.message == "rollback of trend to v2"


@pytest.mark.django_db
def test_rollback_to_a_missing_version_is_refused(bot, admin_user) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RollbackRefused, match="trend has no config version 9"):
        bot_config_rollback(bot=bot, version=9, actor=Actor.for_user(admin_user), author=admin_user)
    assert BotConfig.objects.filter(bot=bot).count() == 3


@pytest.mark.django_db
def test_rollback_to_the_active_version_is_refused(bot, admin_user) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RollbackRefused, match="version 3 is already trend's active config"):
        bot_config_rollback(bot=bot, version=3, actor=Actor.for_user(admin_user), author=admin_user)
    assert BotConfig.objects.filter(bot=bot).count() == 3
