"""A structured diff between two configuration versions (pure, no Django)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _same(a: Any, b: Any) -> bool:
    # 1, 1.0 and True compare equal in Python but are different JSON values.
    return type(a) is type(b) and a == b


def diff_values(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """Every leaf that differs, as ``{"path", "change", "from", "to"}``, sorted by path.

    Nested objects (strategy params, risk limits) are walked so that a change
    shows as ``strategy_params.fast`` rather than as the whole object.
    """
    changes: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after), key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in before:
            changes.append({"path": path, "change": "added", "from": None, "to": after[key]})
        elif key not in after:
            changes.append({"path": path, "change": "removed", "from": before[key], "to": None})
        elif isinstance(before[key], Mapping) and isinstance(after[key], Mapping):
            changes.extend(diff_values(before[key], after[key], path))
        elif not _same(before[key], after[key]):
            changes.append({"path": path, "change": "changed", "from": before[key], "to": after[key]})
    return changes
