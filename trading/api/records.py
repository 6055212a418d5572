"""Orders, fills, positions, equity and metrics snapshots: read-only, filtered,
cursor-paginated; orders and fills also as streaming CSV."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request

from trading import selectors
from trading.models import EquitySnapshot, Fill, MetricsSnapshot, Order, Position
from tradingsite.api_common import (
    ExportFilterSerializer,
    RecordFilterSerializer,
    TimeRangeFilterSerializer,
    csv_response,
    cursor_pagination,
    parse_filters,
    wants_csv,
)

# --- serializers ------------------------------------------------------------

class OrderOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = (
            "id", "bot", "config", "client_order_id", "exchange_order_id", "symbol", "side", "order_type",
            "mode", "quantity", "price", "status", "filled_quantity", "avg_fill_price", "fee_total",
            "candle_time", "reason", "status_reason", "created_at", "updated_at",
        )


class FillOutputSerializer(serializers.ModelSerializer):
    client_order_id = serializers.CharField(source="order.client_order_id", read_only=True)

    class Meta:
        model = Fill
        fields = (
            "id", "bot", "order", "client_order_id", "symbol", "side", "price", "quantity",
            "quote_quantity", "fee", "fee_asset", "trade_id", "filled_at",
        )


class PositionOutputSerializer(serializers.ModelSerializer):
    # Exact: not rounded to the column's 8 places.
    unrealized_pnl = serializers.DecimalField(max_digits=None, decimal_places=None, read_only=True)

    class Meta:
        model = Position
        fields = (
            "id", "bot", "symbol", "quantity", "avg_entry_price", "realized_pnl", "unrealized_pnl",
            "fees_paid", "last_price", "opened_at", "updated_at",
        )


class EquitySnapshotOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = EquitySnapshot
        fields = (
            "id", "bot", "taken_at", "cash", "positions_value", "equity", "realized_pnl", "unrealized_pnl",
            "fees_paid", "peak_equity", "drawdown",
        )


class MetricsSnapshotOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = MetricsSnapshot
        fields = (
            "id", "bot", "taken_at", "total_return", "max_drawdown", "sharpe", "sortino", "win_rate",
            "profit_factor", "avg_trade", "exposure", "trade_count",
        )


# --- CSV columns --------------------------------------------------------------

ORDER_CSV_COLUMNS = (
    "id", "created_at", "bot_id", "config_id", "client_order_id", "exchange_order_id", "symbol", "side",
    "order_type", "mode", "quantity", "price", "status", "filled_quantity", "avg_fill_price", "fee_total",
    "candle_time", "reason", "status_reason", "updated_at",
)
FILL_CSV_COLUMNS = (
    "id", "filled_at", "bot_id", "order_id", "client_order_id", "symbol", "side", "price", "quantity",
    "quote_quantity", "fee", "fee_asset", "trade_id",
)


def _fill_row(fill: Fill) -> list[Any]:
    values = {column: getattr(fill, column, None) for column in FILL_CSV_COLUMNS}
    values["client_order_id"] = fill.order.client_order_id
    return [values[column] for column in FILL_CSV_COLUMNS]


# --- views --------------------------------------------------------------------

class _RecordListView(ListAPIView):
    filter_serializer: type[serializers.Serializer] = RecordFilterSerializer
    csv_name = ""
    csv_columns: tuple[str, ...] = ()

    def selector(self, **filters: Any) -> Any:
        raise NotImplementedError

    def get_queryset(self) -> Any:
        filters = parse_filters(self.filter_serializer, self.request.query_params)
        filters.pop("format", None)
        return self.selector(**filters)

    def csv_row(self, obj: Any) -> list[Any]:
        return [getattr(obj, column) for column in self.csv_columns]

    def list(self, request: Request, *args: Any, export: str | None = None, **kwargs: Any) -> Any:
        if self.csv_name and wants_csv(request, export):
            return csv_response(self.csv_name, self.csv_columns, self.get_queryset(), self.csv_row)
        return super().list(request, *args, **kwargs)


@extend_schema(
    tags=["records"],
    parameters=[ExportFilterSerializer],
    responses={(200, "application/json"): OrderOutputSerializer(many=True), (200, "text/csv"): OpenApiTypes.STR},
)
class OrderListView(_RecordListView):
    """Orders, newest first. ``/api/orders.csv`` is the same list as CSV."""

    filter_serializer = ExportFilterSerializer
    serializer_class = OrderOutputSerializer
    pagination_class = cursor_pagination("-created_at", "-id")
    csv_name = "orders.csv"
    csv_columns = ORDER_CSV_COLUMNS

    def selector(self, **filters: Any) -> Any:
        return selectors.order_list(**filters)


@extend_schema(
    tags=["records"],
    parameters=[ExportFilterSerializer],
    responses={(200, "application/json"): FillOutputSerializer(many=True), (200, "text/csv"): OpenApiTypes.STR},
)
class FillListView(_RecordListView):
    """Fills, newest first. ``/api/fills.csv`` is the same list as CSV."""

    filter_serializer = ExportFilterSerializer
    serializer_class = FillOutputSerializer
    pagination_class = cursor_pagination("-filled_at", "-id")
    csv_name = "fills.csv"
    csv_columns = FILL_CSV_COLUMNS

    def selector(self, **filters: Any) -> Any:
        return selectors.fill_list(**filters)

    def csv_row(self, obj: Any) -> list[Any]:
        return _fill_row(obj)


@extend_schema(tags=["records"], parameters=[RecordFilterSerializer])
class PositionListView(_RecordListView):
    """Positions (time range on the last update)."""

    serializer_class = PositionOutputSerializer
    pagination_class = cursor_pagination("-updated_at", "-id")

    def selector(self, **filters: Any) -> Any:
        return selectors.position_list(**filters)


@extend_schema(tags=["records"], parameters=[TimeRangeFilterSerializer])
class EquitySnapshotListView(_RecordListView):
    serializer_class = EquitySnapshotOutputSerializer
    pagination_class = cursor_pagination("-taken_at", "-id")
    filter_serializer = TimeRangeFilterSerializer

    def selector(self, **filters: Any) -> Any:
        return selectors.equity_snapshot_list(**filters)


@extend_schema(tags=["records"], parameters=[TimeRangeFilterSerializer])
class MetricsSnapshotListView(_RecordListView):
    serializer_class = MetricsSnapshotOutputSerializer
    pagination_class = cursor_pagination("-taken_at", "-id")
    filter_serializer = TimeRangeFilterSerializer

    def selector(self, **filters: Any) -> Any:
        return selectors.metrics_snapshot_list(**filters)


__all__ = [
    "EquitySnapshotListView",
    "FillListView",
    "MetricsSnapshotListView",
    "OrderListView",
    "PositionListView",
]
