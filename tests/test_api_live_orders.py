"""POST /api/orders/live: the admin's manual live order, through every gate."""

from __future__ import annotations

import pytest

from audit.models import Event
from tests.api_support import token_client
from tests.live_support import D, make_live_bot
from trading.models import Order

URL = "/api/orders/live"


@pytest.fixture
def bot(live_env):  # type: ignore[no-untyped-def]
    return make_live_bot(name="live-api")


def body(**values: object) -> dict[str, object]:
    return {"bot": "live-api", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", **values}


def test_an_admin_places_a_market_order_that_fills(live_env, bot, admin_user) -> None:  # type: ignore[no-untyped-def]
    response = token_client(admin_user).post(URL, body(), format="json")
    assert response.status_code == 201, response.data
    assert response.data["status"] == "FILLED" and response.data["mode"] == "live"
    assert D(response.data["filled_quantity"]) == D("0.001")
    assert live_env.orders_posted() == 1
    assert Event.objects.get(type="trading.order.submitted").actor == "admin"


def test_a_limit_price_makes_a_resting_limit_order_and_the_bot_may_be_named_by_id(live_env, bot, admin_user) -> None:  # type: ignore[no-untyped-def]
    response = token_client(admin_user).post(URL, body(bot=str(bot.pk), price="50000"), format="json")
    assert response.status_code == 201
    assert response.data["order_type"] == "LIMIT" and response.data["status"] == "OPEN"
    assert live_env.fake.find_order(response.data["client_order_id"]).price == D("50000")


def test_a_closed_gate_is_a_409_that_names_it_and_sends_nothing(live_env, bot, admin_user, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LIVE_TRADING_ENABLED = False
    response = token_client(admin_user).post(URL, body(), format="json")
    assert response.status_code == 409
    assert response.data["gate"] == "LIVE_TRADING_ENABLED" and "LIVE_TRADING_ENABLED" in response.data["detail"]
    assert Event.objects.get(type="trading.live.refused").result["gate"] == "LIVE_TRADING_ENABLED"
    assert not Order.objects.exists() and live_env.requests() == 0


def test_an_order_over_the_cap_is_a_409_and_one_under_the_filters_a_400(live_env, bot, admin_user) -> None:  # type: ignore[no-untyped-def]
    client = token_client(admin_user)
    over = client.post(URL, body(quantity="1"), format="json")
    assert over.status_code == 409 and over.data["gate"] == "MAX_ORDER_NOTIONAL"
    tiny = client.post(URL, body(quantity="0.000001"), format="json")
    assert tiny.status_code == 400 and tiny.data["gate"] == "EXCHANGE_FILTERS" and "quantity" in tiny.data
    assert live_env.orders_posted() == 0


def test_bad_input_is_a_400_with_field_errors_and_writes_nothing(live_env, bot, admin_user) -> None:  # type: ignore[no-untyped-def]
    client = token_client(admin_user)
    response = client.post(URL, {"bot": "live-api", "symbol": "BTCUSDT", "side": "HOLD", "quantity": "-1",
                                 "price": "0", "client_order_id": "has spaces"}, format="json")
    assert response.status_code == 400
    assert {"side", "quantity", "price", "client_order_id"} <= set(response.data)
    assert client.post(URL, body(bot="nobody"), format="json").data == {"bot": ["no bot 'nobody'"]}
    assert client.post(URL, body(symbol="ETHUSDT"), format="json").data == {"symbol": ["live-api trades BTCUSDT"]}
    assert client.post(URL, body(quantity="0.000000001"), format="json").status_code == 400
    assert not Order.objects.exists() and live_env.requests() == 0
    assert not Event.objects.filter(type__startswith="trading.").exists()


def test_the_same_client_order_id_again_returns_the_order_and_sends_nothing(live_env, bot, admin_user) -> None:  # type: ignore[no-untyped-def]
    client = token_client(admin_user)
    first = client.post(URL, body(client_order_id="api-key-1"), format="json")
    again = client.post(URL, body(client_order_id="api-key-1"), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.data["id"] == again.data["id"] and live_env.orders_posted() == 1


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_an_admin_may_use_it(live_env, bot, users, role) -> None:  # type: ignore[no-untyped-def]
    response = token_client(users[role]).post(URL, body(), format="json")
    assert response.status_code == 403
    assert live_env.requests() == 0 and not Order.objects.exists()
