import pytest


@pytest.mark.django_db
def test_trusted_mode_serves_loopback_as_local_admin(client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUTH_ENABLED = False
    response = client.get("/admin/trading/order/", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.1.20", "8.8.8.8", ""])
def test_trusted_mode_refuses_other_addresses(client, settings, address) -> None:  # type: ignore[no-untyped-def]
    settings.AUTH_ENABLED = False
    response = client.get("/admin/", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert "loopback" in response.json()["detail"]


@pytest.mark.django_db
def test_with_auth_enabled_anonymous_is_sent_to_login(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/admin/trading/order/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
