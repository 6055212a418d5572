"""The audit trail: ``audit.record(...)`` appends a hash-chained event."""

from typing import Any


def record(*args: Any, **kwargs: Any) -> Any:
    # Imported lazily so that importing the app package never touches models.
    from audit.services import record as _record

    return _record(*args, **kwargs)
