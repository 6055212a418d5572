"""Orders and fills tables: filters, pages, and CSV exports with exact decimals."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from tests.dashboard_data import build_history
from tests.factories import BotFactory, OrderFactory
from trading.models import Order

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def history(users):  # type: ignore[no-untyped-def]
    return build_history(bots=3, orders_per_bot=4)


def client_ids(html: str, prefix: str = "bot-") -> set[str]:
    import re

    return set(re.findall(rf'<td class="mono">({prefix}[a-z]-\d{{4}})</td>', html))


def rows_of(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.django_db
def test_orders_table_lists_every_order_newest_first(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/orders/").content.decode()
    assert "12 orders." in html
    assert html.index("bot-a-0003") < html.index("bot-a-0000")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query,expected",
    [
        ({"symbol": "ethusdt"}, {f"bot-b-{i:04d}" for i in range(4)}),
        ({"side": "SELL", "symbol": "BTCUSDT"}, {"bot-a-0001", "bot-a-0003", "bot-c-0001", "bot-c-0003"}),
        ({"status": "FILLED", "side": "BUY", "symbol": "ETHUSDT"}, {"bot-b-0000", "bot-b-0002"}),
        ({"status": "CANCELED"}, set()),
    ],
)
def test_orders_filter_by_symbol_side_and_status(client, viewer, history, query, expected) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/orders/", query, **HTMX).content.decode()
    assert client_ids(html) == expected
    if not expected:
        assert "No orders match these filters." in html


@pytest.mark.django_db
def test_orders_filter_by_bot_and_time_range(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    bot_c = history.bots[2]
    orders = sorted((o for o in history.orders if o.bot == bot_c), key=lambda o: o.created_at)
    since = orders[1].created_at.strftime("%Y-%m-%dT%H:%M:%S")
    until = orders[3].created_at.strftime("%Y-%m-%dT%H:%M:%S")
    html = client.get("/orders/", {"bot": bot_c.pk, "since": since, "until": until}).content.decode()
    # From is inclusive, until exclusive.
    assert client_ids(html) == {orders[1].client_order_id, orders[2].client_order_id}


@pytest.mark.django_db
def test_an_invalid_filter_is_a_sentence_not_a_table(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/orders/", {"since": "2025-02-01T00:00", "until": "2025-01-01T00:00"}).content.decode()
    assert "The start of the time range must come before its end." in html
    assert client_ids(html) == set()
    html = client.get("/orders/", {"since": "yesterday"}).content.decode()
    assert "From (UTC): Enter a valid date/time." in html


@pytest.mark.django_db
def test_orders_are_paginated_and_pages_keep_the_filters(client, viewer, users) -> None:  # type: ignore[no-untyped-def]
    bot = BotFactory(name="busy")
    now = timezone.now()
    for i in range(120):
        OrderFactory(bot=bot, side="BUY" if i % 2 else "SELL", created_at=now - timedelta(minutes=i),
                     client_order_id=f"busy-{i:04d}")
    client.force_login(viewer)
    first = client.get("/orders/", {"side": "BUY"}).content.decode()
    assert "60 orders, 1–50 shown." in first
    assert "Page 1 of 2" in first
    assert 'href="?side=BUY&amp;page=2"' in first
    second = client.get("/orders/", {"side": "BUY", "page": "2"}, **HTMX).content.decode()
    assert "51–60 shown" in second
    assert second.count('<td class="mono">busy-') == 10


@pytest.mark.django_db
def test_orders_csv_is_streamed_with_exact_decimals(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    response = client.get("/orders/export.csv", {"symbol": "BTCUSDT", "side": "BUY"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    rows = rows_of(response)
    assert {r["client_order_id"] for r in rows} == {"bot-a-0000", "bot-a-0002", "bot-c-0000", "bot-c-0002"}
    tiny = next(r for r in rows if r["client_order_id"] == "bot-a-0000")
    assert tiny["quantity"] == "0.00000001"  # never 1E-8
    assert tiny["avg_fill_price"] == "60123.45678901"
    assert Decimal(tiny["quantity"]) == Order.objects.get(client_order_id="bot-a-0000").quantity
    assert tiny["price"] == ""
    assert tiny["created_at"].endswith("+00:00")


@pytest.mark.django_db
def test_csv_cells_cannot_run_as_spreadsheet_formulas(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    rows = rows_of(client.get("/orders/export.csv", {"symbol": "ETHUSDT", "side": "SELL"}))
    risky = next(r for r in rows if r["client_order_id"] == "bot-b-0001")
    assert risky["reason"] == "'=cmd|' /C calc'!A0"


@pytest.mark.django_db
def test_csv_with_invalid_filters_exports_nothing(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    response = client.get("/orders/export.csv", {"since": "not a time"})
    assert response.status_code == 400
    assert "nothing was exported" in response.content.decode()


@pytest.mark.django_db
def test_fills_table_and_filters(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/fills/").content.decode()
    assert "12 fills." in html
    html = client.get("/fills/", {"bot": history.bots[1].pk, "side": "BUY"}, **HTMX).content.decode()
    assert html.count('<td class="mono">t-bot-b-') == 2
    assert "t-bot-a-" not in html
    assert "0.000015 BNB" in html


@pytest.mark.django_db
def test_fills_csv_has_exact_decimals_and_the_order_id(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    rows = rows_of(client.get("/fills/export.csv", {"bot": history.bots[0].pk}))
    assert len(rows) == 4
    first = rows[-1]
    assert first["client_order_id"] == "bot-a-0000"
    assert (first["price"], first["quote_quantity"], first["fee"]) == ("60123.45678901", "901.85185184", "0.00001500")
    assert list(rows[0]) == [
        "filled_at", "bot", "client_order_id", "trade_id", "symbol", "side", "price", "quantity",
        "quote_quantity", "fee", "fee_asset",
    ]


@pytest.mark.django_db
def test_export_link_carries_the_current_filters(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/orders/", {"side": "BUY", "page": "1"}).content.decode()
    assert 'href="/orders/export.csv?side=BUY"' in html
