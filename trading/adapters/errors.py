"""Typed errors of the exchange adapters (pure, no Django).

Every failure of a call to an exchange reaches our code as one of these, never
as a python-binance or ``requests`` exception. The split that matters for money:

- :class:`OrderRejected` and its children: the exchange refused the order, it
  does not exist; safe to record as REJECTED.
- :class:`OrderStatusUnknown`: the order may or may not exist. Reconcile by
  querying its client order id before anything is sent again.
- everything else: the request did not do anything (or was a read).
"""

from __future__ import annotations

from datetime import UTC, datetime


class ExchangeError(Exception):
    """Base of every adapter error. ``code`` is Binance's error code when there is one,
    ``exchange_message`` its own words (``msg``) when it sent any."""

    exchange_message = ""

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status

    def as_dict(self) -> dict[str, object]:
        """A JSON-able summary for audit events (no request data, so no secrets)."""
        summary: dict[str, object] = {
            "error": type(self).__name__,
            "message": self.message,
            "code": self.code,
            "http_status": self.http_status,
        }
        if self.exchange_message:
            summary["exchange_message"] = self.exchange_message
        return summary


class ExchangeUnavailable(ExchangeError):
    """5xx, a non-JSON reply, a dropped connection, an internal error (-1000/-1001): try later."""


class RequestTimeout(ExchangeUnavailable):
    """No reply within the client's timeout."""


class RateLimited(ExchangeError):
    """HTTP 429: back off for at least ``retry_after`` seconds (None when not given)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "retry_after": self.retry_after}


class IpBanned(ExchangeError):
    """HTTP 418: the IP is banned until ``until`` (epoch seconds on the adapter's clock).

    Raised by the process-wide breaker too, without any request reaching the exchange.
    """

    def __init__(
        self,
        message: str,
        *,
        until: float,
        code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.until = until

    @property
    def until_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.until, tz=UTC)

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "until": self.until_datetime.isoformat()}


class TimestampDrift(ExchangeError):
    """-1021: the request's timestamp was outside recvWindow even after a clock resync."""


class AuthenticationFailed(ExchangeError):
    """Bad API key, signature or permissions (-1022, -2014, -2015, 401)."""


class BadSymbol(ExchangeError):
    """-1121: the exchange does not know the symbol."""


class SymbolNotTrading(BadSymbol):
    """The symbol exists but its status is not TRADING (halted, delisted, in a break)."""


class InvalidRequest(ExchangeError):
    """Any other refusal of a request's content (4xx): a bug or bad input on our side."""


class OrderRejected(ExchangeError):
    """The exchange refused the order; it was not placed."""


class InsufficientBalance(OrderRejected):
    """-2010 "Account has insufficient balance for requested action"."""


class FilterFailure(OrderRejected):
    """-1013: the order breaks a symbol filter; ``filter`` names it (LOT_SIZE, NOTIONAL, …)."""

    def __init__(
        self,
        message: str,
        *,
        filter: str = "",
        code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.filter = filter

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "filter": self.filter}


class DuplicateOrder(OrderRejected):
    """-2010 "Duplicate order sent": an open order already carries this client order id."""


class OrderNotFound(ExchangeError):
    """-2013 (query) or -2011 "Unknown order sent" (cancel): no such order, or not open."""


class OrderStatusUnknown(ExchangeError):
    """The order may have been placed (5xx, -1006, -1007, timeout, lost reply on a POST).

    Never send it again before querying ``client_order_id``.
    """

    def __init__(
        self,
        message: str,
        *,
        client_order_id: str = "",
        code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.client_order_id = client_order_id

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "client_order_id": self.client_order_id}


class MarketDataUnavailable(ExchangeError):
    """The source has no data for what was asked (e.g. replay past the end of its file)."""
