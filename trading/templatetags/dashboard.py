"""Number formats of the dashboard. Decimals stay Decimals: no float rounding."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django import template

register = template.Library()

CENT = Decimal("0.01")


@register.filter
def plain(value: Any) -> str:
    """Every significant digit, no exponent, no trailing zeros: ``0.00000001``, ``1250``."""
    if value is None or value == "":
        return "—"
    if not isinstance(value, Decimal):
        return str(value)
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@register.filter
def money(value: Any) -> str:
    """Two decimals with thousands separators: ``12,345.68``."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN):,}"


@register.filter
def signed_money(value: Any) -> str:
    """``+12.30`` or ``−5.00`` (a real minus sign), so the sign never depends on colour."""
    if value is None or value == "":
        return "—"
    amount = Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)
    if amount > 0:
        return f"+{amount:,}"
    if amount < 0:
        return f"\u2212{-amount:,}"
    return f"{amount:,}"


@register.filter
def percent(value: Any) -> str:
    """A ratio as a percentage: ``0.0512`` → ``5.12 %``."""
    if value is None or value == "":
        return "—"
    return f"{(Decimal(value) * 100).quantize(CENT, rounding=ROUND_HALF_EVEN)} %"


@register.filter
def trend(value: Any) -> str:
    """A CSS class for the sign of a number: ``up``, ``down`` or ``flat``."""
    if value is None or value == "":
        return "flat"
    amount = Decimal(value)
    return "up" if amount > 0 else "down" if amount < 0 else "flat"


@register.filter
def pretty_json(value: Any) -> str:
    """Indented, keys sorted; autoescaped by the template like any text."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def as_text(value: Any) -> str:
    """One reason as a sentence: a string as is, a structure as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("message", "reason", "why"):
            if isinstance(value.get(key), str):
                rule = value.get("rule") or value.get("name")
                return f"{rule}: {value[key]}" if isinstance(rule, str) else value[key]
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def compact_json(value: Any) -> str:
    """One line of JSON, keys sorted: ``{"fast": 10, "slow": 30}``."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def duration(seconds: Any) -> str:
    """Seconds as a short time left: ``2 h 05 min``, ``41 min 12 s``, ``9 s``."""
    try:
        total = max(int(seconds), 0)
    except (TypeError, ValueError):
        return "—"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


@register.filter
def minute(value: Any) -> str:
    """A time to the minute, from a datetime or ISO 8601 text: ``2024-02-01 13:00``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "—"
