"""Bots and config versions over the API: create, update, new versions, diff, rollback."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import Event
from tests.api_support import token_client
from tests.factories import BotConfigFactory, BotFactory
from trading.models import Bot, BotConfig

NEW_BOT = {
    "name": "eth-trend",
    "initial_cash": "12345.67890123",
    "config": {
        "symbol": "ETHUSDT",
        "timeframe": "4h",
        "strategy": "sma_cross",
        "strategy_params": {"fast": 9, "slow": 21},
        "risk_limits": {"max_position_pct_equity": "0.25"},
    },
}


@pytest.fixture
def bot_with_two_versions():  # type: ignore[no-untyped-def]
    bot = BotFactory(name="alpha")
    BotConfigFactory(bot=bot, version=1, is_active=False, strategy_params={"fast": 10, "slow": 30})
    BotConfigFactory(bot=bot, version=2, is_active=True, strategy_params={"fast": 12, "slow": 30})
    return bot


@pytest.mark.django_db
def test_admin_creates_a_bot_with_its_first_config_version(admin_user) -> None:  # type: ignore[no-untyped-def]
    response = token_client(admin_user).post("/api/bots", NEW_BOT, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "eth-trend"
    assert body["initial_cash"] == body["cash"] == body["peak_equity"] == "12345.67890123"
    assert body["active_config"]["version"] == 1
    assert body["active_config"]["source"] == "manual"
    assert body["active_config"]["author_name"] == "admin"
    bot = Bot.objects.get(name="eth-trend")
    assert bot.initial_cash == Decimal("12345.67890123")
    config = bot.configs.get()
    assert config.is_active and config.author == admin_user
    assert config.risk_limits == {"max_position_pct_equity": "0.25"}
    assert list(Event.objects.order_by("seq").values_list("type", "actor")) == [
        ("trading.bot.created", "admin"),
        ("trading.config.created", "admin"),
    ]


@pytest.mark.django_db
def test_fractional_numbers_in_a_config_are_kept_as_exact_decimal_strings(admin_user) -> None:  # type: ignore[no-untyped-def]
    # Raw JSON, so that the literals arrive exactly as a client would write them.
    body = (
        '{"name": "eth-trend", "initial_cash": 100.10, "config": {"symbol": "ETHUSDT", "timeframe": "4h",'
        ' "strategy": "sma_cross", "strategy_params": {"fast": 9, "slow": 21},'
        ' "risk_limits": {"daily_loss_limit_pct": 0.10, "fraction_of_equity": 0.05}}}'
    )
    response = token_client(admin_user).post("/api/bots", body, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["initial_cash"] == "100.10000000"
    config = BotConfig.objects.get(bot__name="eth-trend")
    assert config.risk_limits == {"daily_loss_limit_pct": "0.10", "fraction_of_equity": "0.05"}
    assert config.strategy_params == {"fast": 9, "slow": 21}


@pytest.mark.django_db
def test_a_second_bot_with_the_same_name_is_refused(admin_user) -> None:  # type: ignore[no-untyped-def]
    client = token_client(admin_user)
    assert client.post("/api/bots", NEW_BOT, format="json").status_code == 201
    events = Event.objects.count()
    again = client.post("/api/bots", NEW_BOT, format="json")
    assert again.status_code == 400
    assert "name" in again.json()
    assert Bot.objects.count() == 1 and Event.objects.count() == events


@pytest.mark.django_db
def test_live_mode_is_refused_while_live_trading_is_off(admin_user, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LIVE_TRADING_ENABLED = False
    body = {**NEW_BOT, "config": {**NEW_BOT["config"], "mode": "live"}}
    response = token_client(admin_user).post("/api/bots", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"mode": ["live mode needs LIVE_TRADING_ENABLED=true"]}
    assert not Bot.objects.exists() and not Event.objects.exists()


@pytest.mark.django_db
def test_bot_list_and_detail_show_the_active_config(viewer, bot_with_two_versions) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)
    listed = client.get("/api/bots").json()
    assert [(b["name"], b["active_config"]["version"]) for b in listed] == [("alpha", 2)]
    detail = client.get(f"/api/bots/{bot_with_two_versions.pk}").json()
    assert detail["active_config"]["strategy_params"] == {"fast": 12, "slow": 30}
    assert "cycle_lock_token" not in detail
    assert client.get("/api/bots/999999").status_code == 404


@pytest.mark.django_db
def test_admin_switches_a_bot_off_and_the_change_is_audited(admin_user, bot_with_two_versions) -> None:  # type: ignore[no-untyped-def]
    response = token_client(admin_user).patch(
        f"/api/bots/{bot_with_two_versions.pk}", {"enabled": False, "note": "maintenance"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["enabled"] is False
    event = Event.objects.get(type="trading.bot.updated")
    assert event.actor == "admin" and event.message == "maintenance"
    assert event.result == {"before": {"enabled": True}, "after": {"enabled": False}}


@pytest.mark.django_db
def test_config_versions_are_listed_newest_first(viewer, bot_with_two_versions) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)
    versions = client.get(f"/api/bots/{bot_with_two_versions.pk}/configs").json()
    assert [(v["version"], v["is_active"]) for v in versions] == [(2, True), (1, False)]
    one = client.get(f"/api/bots/{bot_with_two_versions.pk}/configs/1").json()
    assert one["strategy_params"] == {"fast": 10, "slow": 30}
    assert client.get(f"/api/bots/{bot_with_two_versions.pk}/configs/9").status_code == 404


@pytest.mark.django_db
def test_a_new_version_changes_only_what_is_given(admin_user, bot_with_two_versions) -> None:  # type: ignore[no-untyped-def]
    response = token_client(admin_user).post(
        f"/api/bots/{bot_with_two_versions.pk}/configs",
        {"timeframe": "15m", "note": "faster candles"},
        format="json",
    )
    assert response.status_code == 201
    new = response.json()
    assert new["version"] == 3 and new["is_active"] is True
    assert new["timeframe"] == "15m"
    assert new["strategy_params"] == {"fast": 12, "slow": 30}  # carried over from v2
    assert new["note"] == "faster candles" and new["source"] == "manual"
    assert list(bot_with_two_versions.configs.filter(is_active=True).values_list("version", flat=True)) == [3]
    event = Event.objects.get(type="trading.config.created")
    assert event.actor == "admin" and event.inputs["previous_version"] == 2


@pytest.mark.django_db
def test_diff_between_two_versions_is_structured(viewer, bot_with_two_versions) -> None:  # type: ignore[no-untyped-def]
    response = token_client(viewer).get(f"/api/bots/{bot_with_two_versions.pk}/configs/diff?from=1&to=2")
    assert response.status_code == 200
    assert response.json() == {
        "bot": bot_with_two_versions.pk,
        "from_version": 1,
        "to_version": 2,
        "changes": [{"path": "strategy_params.fast", "change": "changed", "from": 10, "to": 12}],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "status", "field"),
    [("", 400, "from"), ("?from=1", 400, "to"), ("?from=x&to=2", 400, "from"), ("?from=1&to=7", 404, None)],
)
def test_diff_refuses_bad_or_unknown_versions(viewer, bot_with_two_versions, query, status, field) -> None:  # type: ignore[no-untyped-def]
    response = token_client(viewer).get(f"/api/bots/{bot_with_two_versions.pk}/configs/diff{query}")
    assert response.status_code == status
    if field:
        assert field in response.json()


@pytest.mark.django_db
def test_rollback_is_a_new_version_copying_the_old_one(admin_user, bot_with_two_versions) -> None:  # type: ignore[no-untyped-def]
    response = token_client(admin_user).post(
        f"/api/bots/{bot_with_two_versions.pk}/configs/1/rollback", {"note": "v2 overtrades"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["version"] == 3 and body["is_active"] is True
    assert body["source"] == "rollback" and body["rolled_back_to_version"] == 1
    assert body["strategy_params"] == {"fast": 10, "slow": 30}
    assert BotConfig.objects.filter(bot=bot_with_two_versions).count() == 3  # history kept
    assert Event.objects.get(type="trading.config.created").inputs["source"] == "rollback"


@pytest.mark.django_db
def test_rollback_to_the_active_version_is_a_409(admin_user, bot_with_two_versions) -> None:  # type: ignore[no-untyped-def]
    client = token_client(admin_user)
    response = client.post(f"/api/bots/{bot_with_two_versions.pk}/configs/2/rollback", {}, format="json")
    assert response.status_code == 409
    assert client.post(f"/api/bots/{bot_with_two_versions.pk}/configs/8/rollback", {}, format="json").status_code == 404
    assert BotConfig.objects.filter(bot=bot_with_two_versions).count() == 2
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_partial_version_for_a_bot_without_any_config_names_the_missing_fields(admin_user) -> None:  # type: ignore[no-untyped-def]
    bot = BotFactory(name="bare")  # made in the admin site, say: no config yet
    response = token_client(admin_user).post(f"/api/bots/{bot.pk}/configs", {"timeframe": "1h"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"symbol", "strategy"}
    assert not BotConfig.objects.exists() and not Event.objects.exists()
