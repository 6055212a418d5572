"""Pieces every API module shares: the JSON parser, list filters, cursor
pagination and streaming CSV export."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

# Binance symbols: upper-case letters, and digits in a few (1INCHUSDT).
SYMBOL_PATTERN = r"^[A-Z0-9]{2,20}$"


class DecimalJSONParser(JSONParser):
    """JSON whose fractional numbers arrive as ``Decimal``, never as binary floats.

    A money value written as ``0.1`` reaches a ``DecimalField`` exactly as typed.
    Pathologically deep documents are a 400, not a crash.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            reader = codecs.getreader(encoding)(stream)
            return json.load(reader, parse_float=Decimal, parse_constant=strict_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def _json_decimals_to_strings(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {key: _json_decimals_to_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_decimals_to_strings(item) for item in value]
    return value


class JSONObjectField(serializers.JSONField):
    """A JSON object (not a list or a scalar). Fractional numbers in it are kept
    exactly, as decimal strings (``0.05`` → ``"0.05"``)."""

    default_error_messages = {"not_object": "Expected a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.fail("not_object")
        return super().to_internal_value(_json_decimals_to_strings(data))


class TimeRangeFilterSerializer(serializers.Serializer):
    """Query filters: a bot and a time range."""

    bot = serializers.IntegerField(required=False, min_value=1, max_value=2**62, help_text="bot id")
    since = serializers.DateTimeField(required=False, help_text="inclusive, ISO 8601")
    until = serializers.DateTimeField(required=False, help_text="exclusive, ISO 8601")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:
            raise serializers.ValidationError({"until": ["must not be before since"]})
        return attrs


class RecordFilterSerializer(TimeRangeFilterSerializer):
    """Query filters of the trading records: a bot, a symbol and a time range."""

    symbol = serializers.RegexField(SYMBOL_PATTERN, max_length=20, required=False, help_text="e.g. BTCUSDT")


class ExportFilterSerializer(RecordFilterSerializer):
    """Record filters plus ``format=csv``: the whole filtered list as a streamed CSV file."""

    format = serializers.ChoiceField(
        choices=["csv"], required=False, help_text="csv: the whole filtered list as CSV (no pagination)"
    )


class ErrorSerializer(serializers.Serializer):
    """The shape of an error answer (field errors are an object of lists instead)."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False)


def parse_filters(serializer_class: type[serializers.Serializer], query_params: Any) -> dict[str, Any]:
    """Validated filters from the query string; a bad value is a 400 naming it."""
    serializer = serializer_class(data=query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def cursor_pagination(*ordering: str, page_size: int = 100) -> type[CursorPagination]:
    """A cursor paginator over ``ordering`` (newest first, with the id as tie-break)."""
    return type(
        "CursorPagination",
        (CursorPagination,),
        {
            "ordering": ordering,
            "page_size": page_size,
            "page_size_query_param": "page_size",
            "max_page_size": 1000,
        },
    )


# --- CSV --------------------------------------------------------------------

def csv_cell(value: Any) -> str:
    """Exact text for a cell: Decimals in fixed-point notation, times in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # Spreadsheets run cells that start like a formula; numbers never get here.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def csv_response(
    filename: str, columns: Sequence[str], queryset: Any, row: Callable[[Any], Sequence[Any]] | None = None
) -> StreamingHttpResponse:
    """Stream ``queryset`` as CSV, a chunk of rows at a time (memory stays flat)."""
    make_row = row or (lambda obj: [getattr(obj, column) for column in columns])
    objects = queryset.iterator(chunk_size=2000)
    response = StreamingHttpResponse(
        csv_rows(columns, (make_row(obj) for obj in objects)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def wants_csv(request: Any, export: str | None) -> bool:
    return export == "csv" or request.query_params.get("format") == "csv"


class FormatTolerantNegotiation(DefaultContentNegotiation):
    """A ``?format=`` that no renderer knows selects the usual renderer instead of a 404.

    DRF negotiates before it authenticates, so its 404 would answer anonymous
    requests ahead of the 401; and ``?format=csv`` is answered by the record
    views themselves with a streamed file (they refuse other values with a 400).
    """

    def filter_renderers(self, renderers: list[Any], format: str) -> list[Any]:
        return [renderer for renderer in renderers if renderer.format == format] or renderers


__all__ = [
    "FormatTolerantNegotiation",
    "SYMBOL_PATTERN",
    "DecimalJSONParser",
    "JSONObjectField",
    "ExportFilterSerializer",
    "RecordFilterSerializer",
    "TimeRangeFilterSerializer",
    "csv_response",
    "cursor_pagination",
    "parse_filters",
    "wants_csv",
]
