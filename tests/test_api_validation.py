"""Every write endpoint refuses malformed input with a 400 naming the problem,
and writes nothing: no row in any table, no event.

The write routes come from the URL resolver: a new one fails this suite until
it has malformed examples below (or a reason in ``TAKES_NO_INPUT``).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.urls import reverse

from tests.api_support import BACKTEST_MARKET, make_world, token_client
from tests.test_api_permissions import api_patterns, view_methods

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CHECKED_APPS = {"trading", "audit", "approvals", "auth", "knox", "axes", "sessions", "django_celery_beat"}

VALID_CONFIG = {"symbol": "BTCUSDT", "timeframe": "1h", "strategy": "sma_cross"}
BACKTEST = {"strategy": "sma_cross", **BACKTEST_MARKET}
LIVE_ORDER = {"bot": "alpha", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001"}
TAKES_NO_INPUT = {
    ("auth-logout", "POST"): "revokes the caller's own token; it reads no body",
    ("bot-cycle", "POST"): "runs one cycle of the bot in the URL; it reads no body",
}

# (URL name, method): [(body, a key the error answer must have), ...]. A str body
# is sent as it is (not valid JSON); "detail" is a whole-body error.
MALFORMED: dict[tuple[str, str], list[tuple[Any, str]]] = {
    ("bot-advise", "POST"): [
        ({"advisor": "oracle"}, "advisor"),
        ({"advisor": ["rules"]}, "advisor"),
        ("not json", "detail"),
    ],
    ("auth-login", "POST"): [
        ({}, "username"),
        ({"username": "viewer"}, "password"),
        ({"username": "", "password": "x"}, "username"),
        ({"username": ["viewer"], "password": "x"}, "username"),
        ({"username": "v" * 151, "password": "x"}, "username"),
        ({"username": "vie\x00wer", "password": "x"}, "username"),
        ("{not json", "detail"),
        ([], "non_field_errors"),
    ],
    ("auth-lockout-reset", "POST"): [
        ({}, "username"),
        ({"username": ""}, "username"),
        ({"username": "viewer", "ip_address": "999.1.1.1"}, "ip_address"),
    ],
    ("system-pause", "POST"): [({"reason": ["x"]}, "reason"), ({"reason": "x" * 2001}, "reason"), ("nope", "detail")],
    ("system-resume", "POST"): [({"reason": {"a": 1}}, "reason"), ("[1,", "detail")],
    ("system-emergency-stop", "POST"): [({"reason": 12.5}, "reason"), ('{"reason": NaN}', "detail")],
    ("system-resume-after-emergency", "POST"): [
        ({}, "reason"),
        ({"reason": "ok", "target": "EMERGENCY_STOP"}, "target"),
        ({"reason": "ok", "target": "SIDEWAYS"}, "target"),
    ],
    ("bot-list", "POST"): [
        ({}, "name"),
        ({"name": "beta"}, "config"),
        ({"name": "Bad Name!", "config": VALID_CONFIG}, "name"),
        ({"name": "beta", "config": {**VALID_CONFIG, "symbol": "btcusdt"}}, "config"),
        ({"name": "beta", "config": {**VALID_CONFIG, "timeframe": "7m"}}, "config"),
        ({"name": "beta", "config": {**VALID_CONFIG, "strategy": "Drop Table"}}, "config"),
        ({"name": "beta", "config": {**VALID_CONFIG, "strategy_params": [1, 2]}}, "config"),
        ({"name": "beta", "config": {**VALID_CONFIG, "risk_limits": "tight"}}, "config"),
        ({"name": "beta", "config": {**VALID_CONFIG, "mode": "yolo"}}, "config"),
        ({"name": "beta", "config": {**VALID_CONFIG, "mode": "live"}}, "mode"),
        ({"name": "beta", "initial_cash": "-1", "config": VALID_CONFIG}, "initial_cash"),
        ({"name": "beta", "initial_cash": "0.000000001", "config": VALID_CONFIG}, "initial_cash"),
        ({"name": "beta", "initial_cash": "lots", "config": VALID_CONFIG}, "initial_cash"),
        ({"name": "beta", "initial_cash": "1" * 30, "config": VALID_CONFIG}, "initial_cash"),
        ({"name": "beta", "schedule_interval_seconds": 0, "config": VALID_CONFIG}, "schedule_interval_seconds"),
        ({"name": "beta", "enabled": "maybe", "config": VALID_CONFIG}, "enabled"),
        ({"name": "alpha", "config": VALID_CONFIG}, "name"),  # exists already
    ],
    ("bot-detail", "PATCH"): [
        ({}, "non_field_errors"),
        ({"name": "renamed"}, "non_field_errors"),
        ({"enabled": "maybe"}, "enabled"),
        ({"schedule_interval_seconds": -5}, "schedule_interval_seconds"),
    ],
    ("bot-config-list", "POST"): [
        ({}, "non_field_errors"),
        ({"note": "only a note"}, "non_field_errors"),
        ({"symbol": "btc"}, "symbol"),
        ({"timeframe": "2m"}, "timeframe"),
        ({"strategy_params": [1, 2]}, "strategy_params"),
        ({"risk_limits": 5}, "risk_limits"),
        ({"mode": "live"}, "mode"),
    ],
    ("bot-config-rollback", "POST"): [({"note": ["x"]}, "note"), ({"note": "x" * 2001}, "note")],
    ("scheduler", "PATCH"): [
        ({}, "enabled"),
        ({"enabled": "maybe"}, "enabled"),
        ({"enabled": None}, "enabled"),
        ("on", "detail"),
    ],
    ("scheduler-bot", "PATCH"): [
        ({}, "non_field_errors"),
        ({"name": "renamed"}, "non_field_errors"),
        ({"enabled": "maybe"}, "enabled"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"interval_seconds": 7 * 86400 + 1}, "interval_seconds"),
        ({"interval_seconds": 1.5}, "interval_seconds"),
        ({"interval_seconds": "soon"}, "interval_seconds"),
    ],
    ("approval-approve", "POST"): [({"note": ["x"]}, "note"), ({"note": "x" * 2001}, "note"), ("{", "detail")],
    ("approval-reject", "POST"): [({"note": {"why": "x"}}, "note"), ({"note": "x" * 2001}, "note"), ("[", "detail")],
    ("backtest-list", "POST"): [
        ({}, "strategy"),
        ({**BACKTEST, "strategy": "martingale"}, "strategy"),
        ({"strategy": "sma_cross"}, "symbol"),
        ({**BACKTEST, "symbol": "eth usdt"}, "symbol"),
        ({**BACKTEST, "symbol": "DOGEUSDT"}, "symbol"),  # nothing cached
        ({**BACKTEST, "timeframe": "7m"}, "timeframe"),
        ({**BACKTEST, "strategy_params": [10, 30]}, "strategy_params"),
        ({**BACKTEST, "strategy_params": {"fast": "ten"}}, "strategy_params.fast"),
        ({**BACKTEST, "strategy_params": {"fast": 50, "slow": 20}}, "strategy_params.fast"),
        ({**BACKTEST, "strategy_params": {"fast": 10.5}}, "strategy_params.fast"),
        ({**BACKTEST, "strategy_params": {"turbo": 1}}, "strategy_params.turbo"),
        ({**BACKTEST, "risk_limits": {"fraction_of_equity": "2"}}, "risk_limits.fraction_of_equity"),
        ({**BACKTEST, "risk_limits": "tight"}, "risk_limits"),
        ({**BACKTEST, "start": "yesterday"}, "start"),
        ({**BACKTEST, "start": "2024-02-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, "end"),
        ({**BACKTEST, "start": "2030-01-01T00:00:00Z"}, "symbol"),  # nothing cached from then on
        ({**BACKTEST, "fee_bps": "-1"}, "fee_bps"),
        ({**BACKTEST, "slippage_bps": "5000"}, "slippage_bps"),
        ({**BACKTEST, "initial_cash": "0"}, "initial_cash"),
        ({**BACKTEST, "bot": 999999}, "bot"),
        ('{"strategy": "sma_cross", "strategy_params": {"fast": Infinity}}', "detail"),
    ],
    ("order-live", "POST"): [
        ({}, "bot"),
        ({**LIVE_ORDER, "side": "HOLD"}, "side"),
        ({**LIVE_ORDER, "quantity": "-1"}, "quantity"),
        ({**LIVE_ORDER, "quantity": "lots"}, "quantity"),
        ({**LIVE_ORDER, "quantity": "0.000000001"}, "quantity"),
        ({**LIVE_ORDER, "price": "0"}, "price"),
        ({**LIVE_ORDER, "bot": "nobody"}, "bot"),
        ({**LIVE_ORDER, "symbol": "ETHUSDT"}, "symbol"),
        ({**LIVE_ORDER, "client_order_id": "has spaces"}, "client_order_id"),
        ("{not json", "detail"),
    ],
}


def write_routes() -> set[tuple[str, str]]:
    return {
        (pattern.name, method)
        for _, pattern in api_patterns()
        for method in view_methods(pattern)
        if method in WRITE_METHODS
    }


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in CHECKED_APPS
    }


def test_every_write_route_has_malformed_examples() -> None:
    missing = write_routes() - set(MALFORMED) - set(TAKES_NO_INPUT)
    assert not missing, f"write routes without malformed examples: {sorted(missing)}"
    assert not set(MALFORMED) - write_routes(), "MALFORMED names routes that do not exist"


CASES = [(route, body, key) for route, examples in MALFORMED.items() for body, key in examples]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("route", "body", "key"), CASES, ids=[f"{r[0]}-{i}" for i, (r, _, _) in enumerate(CASES)]
)
def test_malformed_input_is_a_400_and_writes_nothing(settings, admin_user, route, body, key) -> None:  # type: ignore[no-untyped-def]
    settings.AXES_ENABLED = True  # a refused login must not even count as an attempt
    settings.LIVE_TRADING_ENABLED = False
    name, method = route
    world = make_world()
    pattern = next(p for _, p in api_patterns() if p.name == name)
    kwargs = {k: v for k, v in world.url_kwargs.items() if k in pattern.pattern.converters}
    client = token_client(admin_user)
    before = row_counts()
    send = getattr(client, method.lower())
    url = reverse(name, kwargs=kwargs)
    if isinstance(body, str):
        response = send(url, data=body, content_type="application/json")
    else:
        response = send(url, data=body, format="json")
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert key in response.json(), response.json()
    assert row_counts() == before
