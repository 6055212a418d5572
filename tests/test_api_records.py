"""Orders, fills, positions and snapshots: filters, cursor pagination, exact
decimals, streaming CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.api_support import token_client
from tests.factories import (
    BotFactory,
    EquitySnapshotFactory,
    FillFactory,
    MetricsSnapshotFactory,
    OrderFactory,
    PositionFactory,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def orders():  # type: ignore[no-untyped-def]
    alpha, beta = BotFactory(name="alpha"), BotFactory(name="beta")
    made = []
    for n in range(5):
        made.append(OrderFactory(bot=alpha, symbol="BTCUSDT", created_at=T0 + timedelta(minutes=n)))
    made.append(OrderFactory(bot=alpha, symbol="ETHUSDT", created_at=T0 + timedelta(minutes=10)))
    made.append(OrderFactory(bot=beta, symbol="BTCUSDT", created_at=T0 + timedelta(minutes=20)))
    return {"alpha": alpha, "beta": beta, "orders": made}


def read_csv(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.django_db
def test_orders_filter_by_bot_symbol_and_time(viewer, orders) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/orders{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    made = orders["orders"]
    assert ids("") == [o.pk for o in reversed(made)]
    assert ids(f"?bot={orders['beta'].pk}") == [made[6].pk]
    assert ids(f"?bot={orders['alpha'].pk}&symbol=ETHUSDT") == [made[5].pk]
    since, until = (T0 + timedelta(minutes=1)).isoformat(), (T0 + timedelta(minutes=3)).isoformat()
    assert ids(f"?since={since.replace('+', '%2B')}&until={until.replace('+', '%2B')}") == [made[2].pk, made[1].pk]


@pytest.mark.django_db
def test_cursor_pagination_walks_every_order_once(viewer, orders) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)
    seen: list[int] = []
    url: str | None = "/api/orders?page_size=2"
    pages = 0
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 2
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]
        pages += 1
    assert pages == 4
    assert seen == [o.pk for o in reversed(orders["orders"])]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [("?since=yesterday", "since"), ("?bot=abc", "bot"), ("?symbol=btc-usdt", "symbol"),
     ("?since=2026-03-02T00:00Z&until=2026-03-01T00:00Z", "until")],
)
def test_malformed_filters_are_a_400_naming_the_field(viewer, query: str, field: str) -> None:  # type: ignore[no-untyped-def]
    response = token_client(viewer).get(f"/api/orders{query}")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_money_is_serialised_as_exact_decimal_strings(viewer) -> None:  # type: ignore[no-untyped-def]
    # 15 significant digits: the most SQLite keeps (see the PostgreSQL test below).
    order = OrderFactory(quantity=Decimal("0.00000001"), price=Decimal("1234567.12345678"))
    FillFactory(order=order, price=Decimal("0.1"), quantity=Decimal("3"), quote_quantity=Decimal("0.3"))
    client = token_client(viewer)
    row = client.get("/api/orders").json()["results"][0]
    assert row["quantity"] == "0.00000001"
    assert row["price"] == "1234567.12345678"
    assert row["filled_quantity"] == "0.00000000"
    fill = client.get("/api/fills").json()["results"][0]
    assert fill["quote_quantity"] == "0.30000000"
    assert fill["client_order_id"] == order.client_order_id


@pytest.mark.postgres
@pytest.mark.django_db
def test_money_keeps_all_24_digits_on_postgres(viewer) -> None:  # type: ignore[no-untyped-def]
    OrderFactory(price=Decimal("1234567890123456.12345678"))
    client = token_client(viewer)
    assert client.get("/api/orders").json()["results"][0]["price"] == "1234567890123456.12345678"
    assert read_csv(client.get("/api/orders.csv"))[0]["price"] == "1234567890123456.12345678"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/orders.csv", "/api/orders?format=csv"])
def test_orders_export_as_streaming_csv_with_exact_decimals(viewer, orders, url: str) -> None:  # type: ignore[no-untyped-def]
    OrderFactory(bot=orders["alpha"], quantity=Decimal("0"), price=Decimal("0.00000001"),
                 reason="=HYPERLINK(\"http://x\")", created_at=T0 - timedelta(days=1))
    response = token_client(viewer).get(url)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="orders.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert len(rows) == 8
    oldest = rows[-1]
    assert oldest["quantity"] == "0.00000000"  # never scientific notation
    assert oldest["price"] == "0.00000001"
    assert oldest["reason"].startswith("'=")  # a spreadsheet will not run it
    assert oldest["bot_id"] == str(orders["alpha"].pk)


@pytest.mark.django_db
def test_csv_export_keeps_the_filters(viewer, orders) -> None:  # type: ignore[no-untyped-def]
    rows = read_csv(token_client(viewer).get(f"/api/orders.csv?bot={orders['beta'].pk}"))
    assert [row["id"] for row in rows] == [str(orders["orders"][6].pk)]
    bad = token_client(viewer).get("/api/orders.csv?since=never")
    assert bad.status_code == 400 and "since" in bad.json()


@pytest.mark.django_db
def test_fills_export_as_csv(viewer) -> None:  # type: ignore[no-untyped-def]
    fill = FillFactory(price=Decimal("50000.12345678"), fee=Decimal("0.00000123"))
    fill.refresh_from_db()
    rows = read_csv(token_client(viewer).get("/api/fills.csv"))
    assert rows == [{
        "id": str(fill.pk), "filled_at": fill.filled_at.isoformat(), "bot_id": str(fill.bot_id),
        "order_id": str(fill.order_id), "client_order_id": fill.order.client_order_id, "symbol": "BTCUSDT",
        "side": "BUY", "price": "50000.12345678", "quantity": "0.01000000",
        "quote_quantity": format(fill.quote_quantity, "f"), "fee": "0.00000123", "fee_asset": "USDT",
        "trade_id": fill.trade_id,
    }]


@pytest.mark.django_db
def test_positions_and_snapshots_filter_by_bot(viewer) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = BotFactory(name="alpha"), BotFactory(name="beta")
    position = PositionFactory(bot=alpha, quantity=Decimal("0.5"), avg_entry_price=Decimal("100"),
                               last_price=Decimal("100.123456789"))
    PositionFactory(bot=beta)
    EquitySnapshotFactory(bot=alpha, taken_at=T0)
    EquitySnapshotFactory(bot=beta, taken_at=T0)
    MetricsSnapshotFactory(bot=alpha, taken_at=T0, sharpe=Decimal("1.5"))
    client = token_client(viewer)
    position.refresh_from_db()
    positions = client.get(f"/api/positions?bot={alpha.pk}").json()["results"]
    assert [p["id"] for p in positions] == [position.pk]
    assert positions[0]["unrealized_pnl"] == format(position.unrealized_pnl, "f")
    equity = client.get(f"/api/equity-snapshots?bot={beta.pk}").json()["results"]
    assert [e["bot"] for e in equity] == [beta.pk]
    metrics = client.get(f"/api/metrics-snapshots?bot={alpha.pk}&since=2026-03-01T00:00:00Z").json()["results"]
    assert [m["sharpe"] for m in metrics] == ["1.50000000"]
    assert client.get(f"/api/metrics-snapshots?bot={alpha.pk}&since=2026-03-02T00:00:00Z").json()["results"] == []
