"""CSV exports of orders and fills, streamed row by row.

Decimals are written in plain notation with every stored digit (``0.00000001``,
never ``1E-8``), times in ISO 8601 UTC.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

ORDER_COLUMNS = (
    ("created_at", "created_at"),
    ("bot", "bot__name"),
    ("client_order_id", "client_order_id"),
    ("exchange_order_id", "exchange_order_id"),
    ("symbol", "symbol"),
    ("side", "side"),
    ("type", "order_type"),
    ("mode", "mode"),
    ("status", "status"),
    ("quantity", "quantity"),
    ("price", "price"),
    ("filled_quantity", "filled_quantity"),
    ("avg_fill_price", "avg_fill_price"),
    ("fee_total", "fee_total"),
    ("candle_time", "candle_time"),
    ("reason", "reason"),
    ("status_reason", "status_reason"),
)

FILL_COLUMNS = (
    ("filled_at", "filled_at"),
    ("bot", "bot__name"),
    ("client_order_id", "order__client_order_id"),
    ("trade_id", "trade_id"),
    ("symbol", "symbol"),
    ("side", "side"),
    ("price", "price"),
    ("quantity", "quantity"),
    ("quote_quantity", "quote_quantity"),
    ("fee", "fee"),
    ("fee_asset", "fee_asset"),
)

# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose ``write`` hands the line back to the generator."""

    def write(self, value: str) -> str:
        return value


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(list(header))
    for row in rows:
        yield writer.writerow([cell(v) for v in row])


def export(queryset: QuerySet[Any], columns: tuple[tuple[str, str], ...]) -> Iterator[str]:
    rows = queryset.values_list(*(source for _, source in columns)).iterator(chunk_size=2000)
    return csv_lines((name for name, _ in columns), rows)
