"""The one place that talks to Binance: spot REST through python-binance's ``Client``.

python-binance never retries and does not wrap ``requests`` errors, so this
module owns both: every failure leaves here as a typed error of
:mod:`trading.adapters.errors`, and reads are retried under a bounded policy.

- Reads (time, exchange info, klines, prices, order queries, balances): 429 →
  wait at least ``Retry-After`` and retry; 5xx, timeouts, dropped connections →
  retry with exponential backoff; at most ``RetryPolicy.max_attempts`` tries.
- 418 (IP banned): a process-wide breaker per API host refuses every further
  call, without a request, until the ban ends.
- -1021 (timestamp outside recvWindow): resync the client's timestamp offset
  with the server time and retry once. The request was refused before it was
  processed, so this is safe for orders too.
- Orders are never retried otherwise. A 5xx, -1006, -1007, read timeout or lost
  reply on an order POST raises :class:`OrderStatusUnknown`: query the client
  order id before sending anything again. Binance refuses a duplicate
  ``newClientOrderId`` only while the first order is still open; a filled
  order's id can be reused, so a resend is not made safe by the id alone.

Sleeping and the clock are injected, so tests never wait for real.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException, BinanceRequestException

from trading import timeframes
from trading.adapters.errors import (
    AuthenticationFailed,
    BadSymbol,
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    FilterFailure,
    InsufficientBalance,
    InvalidRequest,
    IpBanned,
    OrderNotFound,
    OrderRejected,
    OrderStatusUnknown,
    RateLimited,
    RequestTimeout,
    TimestampDrift,
)
from trading.adapters.exchange_info import exchange_decimal, rules_from_symbol_info
from trading.adapters.types import Balance, Kline, OrderFill, OrderResult
from trading.market_rules import MarketRules

logger = logging.getLogger(__name__)

T = TypeVar("T")
EventHook = Callable[[str, str, dict[str, Any]], None]
CallKind = Literal["read", "order", "cancel"]

KLINES_PAGE_LIMIT = 1000  # Binance's maximum per request
DEFAULT_BAN_SECONDS = 120.0  # a 418 that says neither Retry-After nor "until"
# Characters that python-binance signs and requests sends unchanged. Binance also
# allows ":" and "/", but requests percent-encodes them in a POST body while
# python-binance signs them raw, and the signature would not match.
CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9._-]{1,36}$")
_BANNED_UNTIL = re.compile(r"banned until (\d{10,})")
_FILTER_NAME = re.compile(r"Filter failure: ([A-Z_]+)")

# Binance codes after which an order's execution status is unknown.
_UNKNOWN_CODES = {-1000, -1001, -1006, -1007}
_UNAVAILABLE_CODES = {-1000, -1001, -1006, -1007, -1008}
_AUTH_CODES = {-1002, -1022, -2014, -2015}


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for reads. Orders are never retried (except once after -1021)."""

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    # A Retry-After longer than this is not slept through, and one call never
    # sleeps more than max_total_wait in all: the error goes to the caller (a
    # trading cycle would rather skip a candle than outlive its task time limit).
    max_wait: float = 30.0
    max_total_wait: float = 60.0

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))


class BanBreaker:
    """Holds every call to one API host while Binance bans our IP (HTTP 418)."""

    def __init__(self) -> None:
        self._until = 0.0
        self._lock = threading.Lock()

    @property
    def until(self) -> float:
        return self._until

    def check(self, now: float) -> None:
        until = self._until
        if now < until:
            raise IpBanned(
                f"Binance has banned this IP until {_iso(until)}; no request was sent",
                until=until,
                http_status=418,
            )

    def trip(self, until: float) -> None:
        with self._lock:
            self._until = max(self._until, until)

    def reset(self) -> None:
        with self._lock:
            self._until = 0.0


_breakers: dict[str, BanBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(api_url: str) -> BanBreaker:
    """The process-wide breaker of the host behind ``api_url`` (a ban is per IP and host)."""
    host = urlsplit(api_url).netloc.lower()
    with _breakers_lock:
        return _breakers.setdefault(host, BanBreaker())


def api_url_from_base(base_url: str) -> str:
    """``http://host:port`` or ``http://host:port/api`` → python-binance's ``API_URL``."""
    url = base_url.rstrip("/")
    return url if url.endswith("/api") else url + "/api"


def build_client(
    *,
    api_key: str = "",
    api_secret: str = "",
    base_url: str = "",
    testnet: bool = True,
    timeout: float = 10.0,
) -> Client:
    """A python-binance client that sends no request while being built (``ping=False``).

    With ``testnet=True`` python-binance ignores an ``API_URL`` override, so an
    explicit ``base_url`` (a proxy, the local fake) always means ``testnet=False``.
    """
    client = Client(
        api_key or None,
        api_secret or None,
        requests_params={"timeout": timeout},
        testnet=testnet and not base_url,
        ping=False,
    )
    if base_url:
        client.API_URL = api_url_from_base(base_url)
    return client


class BinanceAdapter:
    """Typed, retried access to Binance spot. Build it with :func:`get_adapter` in app code."""

    def __init__(
        self,
        client: Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
        exchange_info_ttl: float = 3600.0,
        on_event: EventHook | None = None,
        breaker: BanBreaker | None = None,
    ) -> None:
        self.client = client
        self.sleep = sleep
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.exchange_info_ttl = exchange_info_ttl
        self._on_event = on_event
        self.breaker = breaker or breaker_for(client.API_URL)
        self._symbols: dict[str, tuple[float, dict[str, Any]]] = {}
        self._symbols_lock = threading.Lock()
        self._time_synced = False

    # --- time -----------------------------------------------------------------
    def server_time_ms(self) -> int:
        reply = self._call("server_time", self.client.get_server_time)
        return int(reply["serverTime"])

    def server_time(self) -> datetime:
        return timeframes.from_ms(self.server_time_ms())

    def sync_time(self) -> int:
        """Set the client's timestamp offset from the server time; returns it (ms).

        python-binance stamps signed requests with ``time.time()``, so the offset is
        measured against the real clock, not the injected one.
        """
        before = time.time() * 1000
        server = self.server_time_ms()
        after = time.time() * 1000
        offset = int(server - (before + after) / 2)
        self.client.timestamp_offset = offset
        self._time_synced = True
        return offset

    # --- exchange info ----------------------------------------------------------
    def symbol_info(self, symbol: str) -> dict[str, Any]:
        """The symbol's exchange info, cached for ``exchange_info_ttl`` seconds."""
        symbol = symbol.upper()
        now = self.clock()
        with self._symbols_lock:
            cached = self._symbols.get(symbol)
        if cached and now - cached[0] < self.exchange_info_ttl:
            return cached[1]
        # python-binance's get_exchange_info() takes no symbol, and the full reply
        # is megabytes: ask for the one symbol through the client's request helper.
        reply = self._call(
            "exchange_info", lambda: self.client._get("exchangeInfo", data={"symbol": symbol})
        )
        info = next((s for s in reply.get("symbols", []) if s.get("symbol") == symbol), None)
        if info is None:
            raise BadSymbol(f"Binance does not list {symbol}", code=-1121)
        with self._symbols_lock:
            self._symbols[symbol] = (now, info)
        return info

    def market_rules(self, symbol: str) -> MarketRules:
        return rules_from_symbol_info(self.symbol_info(symbol))

    # --- market data ------------------------------------------------------------
    def klines(
        self,
        symbol: str,
        timeframe: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = KLINES_PAGE_LIMIT,
    ) -> list[Kline]:
        """One page of klines as Binance sends them, the forming candle included."""
        timeframes.seconds(timeframe)
        params: dict[str, Any] = {"symbol": symbol.upper(), "interval": timeframe, "limit": limit}
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        raw = self._call("klines", lambda: self.client.get_klines(**params))
        return [_kline(row) for row in raw]

    def closed_klines(
        self,
        symbol: str,
        timeframe: str,
        *,
        start_ms: int,
        end_ms: int | None = None,
        now_ms: int | None = None,
    ) -> Iterator[list[Kline]]:
        """Pages of closed klines with ``start_ms <= open_time <= end_ms``, oldest first.

        A candle counts as closed only once the *server's* clock has passed its
        end (and ``now_ms``, when given): a local clock running ahead must not
        let a forming candle through.
        """
        tf_ms = timeframes.seconds(timeframe) * 1000
        horizon = self.server_time_ms()
        if now_ms is not None:
            horizon = min(horizon, now_ms)
        last_closed_open = horizon - horizon % tf_ms - tf_ms
        end = last_closed_open if end_ms is None else min(end_ms, last_closed_open)
        cursor = start_ms
        while cursor <= end:
            page = self.klines(symbol, timeframe, start_ms=cursor, end_ms=end, limit=KLINES_PAGE_LIMIT)
            if not page:
                return
            closed = [k for k in page if cursor <= k.open_time <= end and k.open_time + tf_ms <= horizon]
            if closed:
                yield closed
            next_cursor = page[-1].open_time + tf_ms
            if next_cursor <= cursor:  # a reply that does not move forward would loop for ever
                return
            cursor = next_cursor

    def last_price(self, symbol: str) -> Decimal:
        reply = self._call("ticker_price", lambda: self.client.get_symbol_ticker(symbol=symbol.upper()))
        try:
            return Decimal(reply["price"])
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise ExchangeUnavailable(f"malformed ticker reply for {symbol}: {reply!r}") from exc

    # --- orders and account (signed) -------------------------------------------
    def place_order(
        self,
        *,
        symbol: str,
        side: str,
        quantity: Decimal,
        client_order_id: str,
        order_type: str = "MARKET",
        price: Decimal | None = None,
        time_in_force: str = "GTC",
    ) -> OrderResult:
        """Send one order under our own ``client_order_id`` (store it before calling).

        Raises :class:`OrderRejected` (or a child) when the order was refused, and
        :class:`OrderStatusUnknown` when it may exist: never resend before querying.
        """
        side = side.upper()
        order_type = order_type.upper()
        if side not in ("BUY", "SELL"):
            raise ValueError(f"side must be BUY or SELL, got {side!r}")
        if order_type not in ("MARKET", "LIMIT"):
            raise ValueError(f"order_type must be MARKET or LIMIT, got {order_type!r}")
        _check_client_order_id(client_order_id)
        params: dict[str, Any] = {
            "symbol": symbol.upper(),
            "side": side,
            "type": order_type,
            "quantity": _decimal_param("quantity", quantity),
            "newClientOrderId": client_order_id,
            "newOrderRespType": "FULL",
        }
        if order_type == "LIMIT":
            if price is None:
                raise ValueError("a LIMIT order needs a price")
            params["price"] = _decimal_param("price", price)
            params["timeInForce"] = time_in_force
        elif price is not None:
            raise ValueError("a MARKET order takes no price")
        reply = self._call(
            "place_order",
            lambda: self.client.create_order(**params),
            kind="order",
            signed=True,
            client_order_id=client_order_id,
        )
        return _order(reply)

    def get_order(self, *, symbol: str, client_order_id: str) -> OrderResult:
        """The order with our ``client_order_id``; :class:`OrderNotFound` if Binance has none."""
        _check_client_order_id(client_order_id)
        reply = self._call(
            "get_order",
            lambda: self.client.get_order(symbol=symbol.upper(), origClientOrderId=client_order_id),
            signed=True,
            client_order_id=client_order_id,
        )
        return _order(reply)

    def cancel_order(self, *, symbol: str, client_order_id: str) -> OrderResult:
        """Cancel an open order. Not retried: on :class:`OrderStatusUnknown`, query it."""
        _check_client_order_id(client_order_id)
        reply = self._call(
            "cancel_order",
            lambda: self.client.cancel_order(symbol=symbol.upper(), origClientOrderId=client_order_id),
            kind="cancel",
            signed=True,
            client_order_id=client_order_id,
        )
        return _order(reply, client_order_id_key="origClientOrderId")

    def order_trades(self, *, symbol: str, order_id: int) -> list[OrderFill]:
        """Every trade (fill) of one order, oldest first: ``GET /api/v3/myTrades?orderId=``.

        An order query carries no fills; a fill's ``tradeId`` here is the same as
        in the FULL reply of the order POST, so fills can be deduplicated by it.
        """
        reply = self._call(
            "order_trades",
            lambda: self.client.get_my_trades(symbol=symbol.upper(), orderId=order_id),
            signed=True,
        )
        try:
            return [
                OrderFill(
                    price=exchange_decimal(t["price"]),
                    quantity=exchange_decimal(t["qty"]),
                    commission=exchange_decimal(t.get("commission", "0")),
                    commission_asset=t.get("commissionAsset", ""),
                    trade_id=str(t["id"]),
                    time=timeframes.from_ms(int(t["time"])) if t.get("time") else None,
                )
                for t in reply
                if int(t.get("orderId", order_id)) == order_id
            ]
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise ExchangeUnavailable(f"malformed trade list from Binance: {exc!r}") from exc

    def balances(self) -> dict[str, Balance]:
        reply = self._call("account", self.client.get_account, signed=True)
        try:
            return {
                b["asset"]: Balance(b["asset"], Decimal(b["free"]), Decimal(b["locked"]))
                for b in reply["balances"]
            }
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise ExchangeUnavailable(f"malformed account reply: {exc!r}") from exc

    # --- the retry loop ---------------------------------------------------------
    def _call(
        self,
        operation: str,
        fn: Callable[[], T],
        *,
        kind: CallKind = "read",
        signed: bool = False,
        client_order_id: str = "",
    ) -> T:
        attempt = 0
        waited = 0.0
        resynced = False
        while True:
            self.breaker.check(self.clock())
            if signed and not self._time_synced:
                self.sync_time()
            attempt += 1
            try:
                return fn()
            except (BinanceAPIException, BinanceRequestException, requests.RequestException) as exc:
                error = self._map_error(exc, kind=kind, client_order_id=client_order_id)
                if isinstance(exc, BinanceAPIException) and exc.code:
                    error.exchange_message = str(exc.message or "")[:300]
                cause: BaseException = exc
            if isinstance(error, IpBanned):
                self.breaker.trip(error.until)
                self._event("exchange.ip_banned", f"Binance banned this IP during {operation}", error)
                raise error from cause
            if isinstance(error, TimestampDrift) and signed and not resynced:
                resynced = True
                offset = self.sync_time()
                self._event(
                    "exchange.timestamp_resynced",
                    f"{operation}: timestamp outside recvWindow; clock offset now {offset} ms",
                    error,
                )
                continue
            if isinstance(error, RateLimited):
                self._event("exchange.rate_limited", f"Binance rate-limited {operation}", error)
            if kind == "read" and attempt < self.retry.max_attempts:
                wait = self._wait_before_retry(error, attempt)
                if wait is not None and waited + wait <= self.retry.max_total_wait:
                    logger.warning("binance %s: %s; retry %d in %.2fs", operation, error, attempt, wait)
                    self.sleep(wait)
                    waited += wait
                    continue
            raise error from cause

    def _wait_before_retry(self, error: ExchangeError, attempt: int) -> float | None:
        """Seconds to wait before retrying a read after ``error``, or None: do not retry."""
        if isinstance(error, RateLimited):
            if error.retry_after is None:
                return self.retry.backoff(attempt)
            if error.retry_after > self.retry.max_wait:
                return None
            return max(error.retry_after, self.retry.backoff(attempt))
        if isinstance(error, ExchangeUnavailable):
            return self.retry.backoff(attempt)
        return None

    def _map_error(self, exc: Exception, *, kind: CallKind, client_order_id: str) -> ExchangeError:
        unknown_if_sent = kind in ("order", "cancel")
        what = "order" if kind == "order" else "cancel"

        def unknown(message: str, **kw: Any) -> OrderStatusUnknown:
            return OrderStatusUnknown(
                f"{what} status unknown ({message}): query client order id {client_order_id} "
                "before sending anything again",
                client_order_id=client_order_id,
                **kw,
            )

        if isinstance(exc, requests.ConnectTimeout):
            # The connection was never made, so nothing was sent.
            return RequestTimeout("could not connect to Binance in time; nothing was sent")
        # Messages name the exception type only: requests' text repeats the signed URL.
        if isinstance(exc, requests.Timeout):
            if unknown_if_sent:
                return unknown("no reply in time")
            return RequestTimeout(f"Binance did not reply in time ({type(exc).__name__})")
        if isinstance(exc, requests.RequestException):
            if unknown_if_sent:
                return unknown(f"connection failed: {type(exc).__name__}")
            return ExchangeUnavailable(f"connection to Binance failed ({type(exc).__name__})")
        if isinstance(exc, BinanceRequestException):
            # A 2xx whose body is not JSON: for an order, it may well have been accepted.
            if unknown_if_sent:
                return unknown("unreadable reply")
            return ExchangeUnavailable("Binance sent an unreadable reply")

        assert isinstance(exc, BinanceAPIException)
        status = int(exc.status_code)
        code = int(exc.code) if exc.code else None
        message = str(exc.message or "")[:300]
        kw = {"code": code, "http_status": status}
        headers = getattr(exc.response, "headers", None) or {}

        if unknown_if_sent and code is None and status not in (418, 429):
            # Not Binance's own JSON refusal (a proxy's page, say): nobody can tell
            # whether the order reached the matching engine.
            return unknown(f"HTTP {status} without a Binance error code", **kw)
        if status == 418:
            return IpBanned(f"Binance banned this IP: {message}", until=self._ban_until(headers, message), **kw)
        if status == 429:
            return RateLimited(
                f"Binance rate limit hit: {message}", retry_after=_retry_after(headers), **kw
            )
        if status >= 500 or status == 408 or code in _UNKNOWN_CODES:
            if unknown_if_sent:
                return unknown(f"HTTP {status}, code {code}", **kw)
            if status == 408:
                return RequestTimeout(f"the request timed out (HTTP 408): {message}", **kw)
            return ExchangeUnavailable(f"Binance unavailable (HTTP {status}, code {code}): {message}", **kw)
        if code == -1021:
            return TimestampDrift(f"request timestamp outside Binance's recvWindow: {message}", **kw)
        if code == -1121:
            return BadSymbol(f"invalid symbol: {message}", **kw)
        if code == -1013:
            found = _FILTER_NAME.search(message)
            return FilterFailure(f"order breaks a filter: {message}", filter=found.group(1) if found else "", **kw)
        if code == -2010:
            lowered = message.lower()
            if "insufficient balance" in lowered:
                return InsufficientBalance(f"insufficient balance: {message}", **kw)
            if "duplicate order" in lowered:
                return DuplicateOrder(f"duplicate client order id {client_order_id}: {message}", **kw)
            return OrderRejected(f"order rejected: {message}", **kw)
        if code == -2013 or (code == -2011 and "unknown order" in message.lower()):
            return OrderNotFound(f"no such order {client_order_id}: {message}", **kw)
        if code == -2011:
            return OrderRejected(f"cancel rejected: {message}", **kw)
        if code in _UNAVAILABLE_CODES:
            return ExchangeUnavailable(f"Binance internal error: {message}", **kw)
        if status == 401 or code in _AUTH_CODES:
            return AuthenticationFailed(f"Binance refused our credentials: {message}", **kw)
        if status == 403:
            return InvalidRequest(f"Binance's firewall refused the request (HTTP 403): {message}", **kw)
        return InvalidRequest(f"Binance refused the request (HTTP {status}, code {code}): {message}", **kw)

    def _ban_until(self, headers: Any, message: str) -> float:
        now = self.clock()
        retry_after = _retry_after(headers)
        if retry_after is not None:
            return now + retry_after
        found = _BANNED_UNTIL.search(message)
        if found:
            # "until" is on the server's clock; turn it into a duration from now.
            server_now_ms = time.time() * 1000 + self.client.timestamp_offset
            return now + max(0.0, (int(found.group(1)) - server_now_ms) / 1000)
        return now + DEFAULT_BAN_SECONDS

    def _event(self, type: str, message: str, error: ExchangeError) -> None:
        if self._on_event is not None:
            self._on_event(type, message, error.as_dict())


# --- helpers ------------------------------------------------------------------
def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat(timespec="seconds")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _check_client_order_id(client_order_id: str) -> None:
    if not CLIENT_ORDER_ID.match(client_order_id or ""):
        raise ValueError(
            f"client order id {client_order_id!r} must be 1-36 characters of A-Z a-z 0-9 . _ -"
        )


def _decimal_param(name: str, value: Decimal) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value}")
    return format(value.normalize(), "f")


def _kline(row: list[Any]) -> Kline:
    try:
        return Kline(
            open_time=int(row[0]),
            open=exchange_decimal(row[1]),
            high=exchange_decimal(row[2]),
            low=exchange_decimal(row[3]),
            close=exchange_decimal(row[4]),
            volume=exchange_decimal(row[5]),
            close_time=int(row[6]),
        )
    except (IndexError, TypeError, ValueError, InvalidOperation) as exc:
        raise ExchangeUnavailable(f"malformed kline from Binance: {row!r}") from exc


def _order(reply: dict[str, Any], *, client_order_id_key: str = "clientOrderId") -> OrderResult:
    try:
        fills = tuple(
            OrderFill(
                price=exchange_decimal(f["price"]),
                quantity=exchange_decimal(f["qty"]),
                commission=exchange_decimal(f.get("commission", "0")),
                commission_asset=f.get("commissionAsset", ""),
                trade_id=str(f.get("tradeId", "")),
            )
            for f in reply.get("fills", [])
        )
        stamp = reply.get("transactTime") or reply.get("updateTime") or reply.get("time")
        return OrderResult(
            symbol=reply["symbol"],
            order_id=int(reply["orderId"]),
            client_order_id=reply[client_order_id_key],
            side=reply.get("side", ""),
            order_type=reply.get("type", ""),
            status=reply["status"],
            price=exchange_decimal(reply.get("price", "0")),
            orig_qty=exchange_decimal(reply.get("origQty", "0")),
            executed_qty=exchange_decimal(reply.get("executedQty", "0")),
            cumulative_quote_qty=exchange_decimal(reply.get("cummulativeQuoteQty", "0")),
            fills=fills,
            transact_time=timeframes.from_ms(int(stamp)) if stamp else None,
            raw=reply,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ExchangeUnavailable(f"malformed order reply from Binance: {exc!r}") from exc


# --- the process-wide adapter built from settings ---------------------------------
_adapters: dict[tuple[str, bool, str, str], BinanceAdapter] = {}
_adapters_lock = threading.Lock()


def record_exchange_event(type: str, message: str, data: dict[str, Any]) -> None:
    """The default event hook: an audit event written by the system actor."""
    from audit.actors import Actor
    from audit.services import record

    record(type, Actor.system(), message, inputs={}, result=data)


def get_adapter() -> BinanceAdapter:
    """The adapter for the current settings (one per process, so caches are shared)."""
    from django.conf import settings

    key = (
        settings.BINANCE_BASE_URL,
        bool(settings.BINANCE_TESTNET),
        settings.BINANCE_API_KEY,
        settings.BINANCE_API_SECRET,
    )
    with _adapters_lock:
        adapter = _adapters.get(key)
        if adapter is None:
            client = build_client(
                api_key=settings.BINANCE_API_KEY,
                api_secret=settings.BINANCE_API_SECRET,
                base_url=settings.BINANCE_BASE_URL,
                testnet=settings.BINANCE_TESTNET,
            )
            adapter = BinanceAdapter(client, on_event=record_exchange_event)
            _adapters[key] = adapter
        return adapter


def reset_adapters() -> None:
    """Forget built adapters and lift every breaker (tests, or after a settings change)."""
    with _adapters_lock:
        _adapters.clear()
    with _breakers_lock:
        for breaker in _breakers.values():
            breaker.reset()
        _breakers.clear()
