import pytest

from tests.factories import BotFactory


@pytest.mark.django_db
def test_health_is_public_and_reports_reachability(client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BINANCE_API_SECRET = "super-secret-value"
    response = client.get("/api/health")
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert response.status_code == 200
    assert body["last_cycle_age_seconds"] is None
    assert "super-secret-value" not in response.content.decode()


@pytest.mark.django_db
def test_health_reports_the_age_of_the_last_cycle(client) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    BotFactory(last_cycle_at=timezone.now() - timedelta(seconds=90))
    age = client.get("/api/health").json()["last_cycle_age_seconds"]
    assert 89 <= age < 120


@pytest.mark.django_db
def test_health_says_when_the_broker_is_down(client, settings) -> None:  # type: ignore[no-untyped-def]
    from tradingsite.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/api/health")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
    assert response.json()["status"] == "degraded"
