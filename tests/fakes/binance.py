"""A local fake of Binance's spot REST API, for tests and the offline demo.

It speaks the wire protocol that python-binance's ``Client`` expects, on
127.0.0.1, so the adapter under test does not know it is a fake (only the base
URL differs). It serves:

- ``GET /api/v3/ping``, ``/api/v3/time``, ``/api/v3/exchangeInfo`` (the real
  filters in ``data/exchange_info.json``; ``symbol=``; -1121 for an unknown one)
- ``GET /api/v3/klines`` from the bundled candles in ``data/binance/``, with
  Binance's paging (startTime/endTime/limit, default 500, at most 1000), up to
  the fake's clock: the candle that contains the clock is still forming and is
  served with open=high=low=close=its open and zero volume
- ``GET /api/v3/ticker/price``: the open of the candle that contains the clock
- signed ``POST/GET/DELETE /api/v3/order``, ``GET /api/v3/myTrades`` (the
  fills of an order) and ``GET /api/v3/account``:
  HMAC-SHA256 over the query string and body, timestamp within recvWindow
  (-1021), LOT_SIZE/PRICE_FILTER/NOTIONAL filters (-1013), balances per asset
  (-2010), a client order id already used by an open order (-2010 "Duplicate
  order sent."; as on Binance, the id of a filled or canceled order may be
  reused), -2013/-2011 for unknown orders. MARKET orders fill at once at the
  current price with a 0.1 % commission in the asset received; LIMIT orders rest
  until canceled or filled with :meth:`FakeBinance.fill_order`.

Faults are queued per path (:meth:`FakeBinance.inject`) and every request is
counted per method and path (:meth:`FakeBinance.count`). The clock is settable
and then runs on in real time. Run by hand::

    python -m tests.fakes.binance --port 9100 --clock 2025-08-18T12:00:30
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import hashlib
import hmac
import json
import threading
import time
from array import array
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.http_server import Answer, LocalHTTPServer, wait_for_ctrl_c

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data"
API_KEY = "fake-binance-api-key"
API_SECRET = "fake-binance-api-secret"

INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
    "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
}
EIGHT = Decimal("0.00000001")


def money(value: Decimal) -> str:
    return f"{value.quantize(EIGHT):f}"


# --- faults -------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """What the next matching request gets instead of (or on top of) its answer."""

    kind: str  # "status", "timeout", "timeout_unprocessed", "lose_response", "passthrough"
    status: int = 0
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    ban_seconds: float = 0.0
    method: str | None = None  # only requests with this method take the fault

    @classmethod
    def passthrough(cls, *, method: str | None = None) -> Fault:
        """No fault: lets one request through, so the next fault hits a later request."""
        return cls("passthrough", method=method)

    @classmethod
    def rate_limited(cls, retry_after: int = 1, *, method: str | None = None) -> Fault:
        body = {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 "
                "requests per minute. Please use WebSocket Streams for live updates to avoid polling the API."}
        return cls("status", 429, json.dumps(body), (("Retry-After", str(retry_after)),), method=method)

    @classmethod
    def banned(cls, seconds: int = 120, *, method: str | None = None) -> Fault:
        """A 418; the fake then refuses every request until the ban ends on its clock."""
        return cls("status", 418, "", (("Retry-After", str(seconds)),), ban_seconds=seconds, method=method)

    @classmethod
    def server_error(cls, status: int = 502, *, method: str | None = None) -> Fault:
        """An HTML page from a proxy, not Binance's JSON."""
        html = f"<html><head><title>{status}</title></head><body><h1>{status} Bad Gateway</h1></body></html>"
        return cls("status", status, html, (("Content-Type", "text/html"),), method=method)

    @classmethod
    def error(cls, code: int, msg: str, status: int = 400, *, method: str | None = None) -> Fault:
        return cls("status", status, json.dumps({"code": code, "msg": msg}), method=method)

    @classmethod
    def timestamp_drift(cls, *, method: str | None = None) -> Fault:
        return cls.error(-1021, "Timestamp for this request is outside of the recvWindow.", method=method)

    @classmethod
    def insufficient_balance(cls, *, method: str | None = None) -> Fault:
        return cls.error(-2010, "Account has insufficient balance for requested action.", method=method)

    @classmethod
    def filter_failure(cls, name: str = "LOT_SIZE", *, method: str | None = None) -> Fault:
        return cls.error(-1013, f"Filter failure: {name}", method=method)

    @classmethod
    def unknown_execution(cls, code: int = -1007, *, method: str | None = None) -> Fault:
        msg = ("Timeout waiting for response from backend server. Send status unknown; "
               "execution status unknown.")
        return cls.error(code, msg, status=503, method=method)

    @classmethod
    def timeout(cls, seconds: float = 1.0, *, process: bool = True, method: str | None = None) -> Fault:
        """Sleep ``seconds`` before answering (past the client's timeout). With
        ``process`` the request takes effect first (an order is placed)."""
        return cls("timeout" if process else "timeout_unprocessed", seconds=seconds, method=method)

    @classmethod
    def lose_response(cls, *, method: str | None = None) -> Fault:
        """Do what the request asks, then drop the connection without an answer."""
        return cls("lose_response", method=method)


@dataclass
class Reply:
    status: int
    body: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    drop: bool = False


class ApiError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


# --- candle data ----------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """Candles of one symbol and interval: open times (ms) and "o,h,l,c,v" text."""

    open_times: array
    lines: list[str]


def series_from_rows(rows: Iterable[Sequence[Any]]) -> Series:
    times = array("q")
    lines = []
    for row in rows:
        times.append(int(row[0]))
        lines.append(",".join(str(v) for v in row[1:6]))
    return Series(times, lines)


@lru_cache(maxsize=16)
def load_series(path: Path) -> Series:
    opener = gzip.open if path.suffix == ".gz" else open
    times = array("q")
    lines: list[str] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        handle.readline()
        for line in handle:
            stamp, _, rest = line.rstrip("\n").partition(",")
            if stamp:
                times.append(int(stamp))
                lines.append(rest)
    return Series(times, lines)


@dataclass
class FakeOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal
    time_in_force: str
    status: str
    created_ms: int
    executed_qty: Decimal = Decimal(0)
    quote_qty: Decimal = Decimal(0)
    updated_ms: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": money(self.price),
            "origQty": money(self.quantity),
            "executedQty": money(self.executed_qty),
            "cummulativeQuoteQty": money(self.quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": self.created_ms,
            "updateTime": self.updated_ms or self.created_ms,
            "isWorking": True,
            "workingTime": self.created_ms,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }


# --- the fake exchange -----------------------------------------------------------
class FakeBinance:
    """The exchange's state and rules, without HTTP (see :class:`FakeBinanceServer`)."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        data_dir: Path = DATA_DIR,
        clock: datetime | int | None = None,
        balances: dict[str, Decimal] | None = None,
        fee_rate: Decimal = Decimal("0.001"),
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.data_dir = data_dir
        self.fee_rate = fee_rate
        self.url = ""  # set by the server
        self._lock = threading.RLock()
        self._clock_base_ms = int(time.time() * 1000)
        self._clock_set_at = time.monotonic()
        if clock is not None:
            self.set_clock(clock)
        self.exchange_info = json.loads((data_dir / "exchange_info.json").read_text())
        self.symbols = {s["symbol"]: s for s in self.exchange_info["symbols"]}
        self.free: dict[str, Decimal] = dict(
            balances if balances is not None else {"USDT": Decimal("10000"), "BTC": Decimal("0"),
                                                   "ETH": Decimal("0")}
        )
        self.locked: dict[str, Decimal] = {}
        self.orders: list[FakeOrder] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.hits: Counter[tuple[str, str]] = Counter()
        self.banned_until_ms = 0
        self._series: dict[tuple[str, str], Series] = {}
        self._hidden: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._next_order_id = 1
        self._next_trade_id = 1

    # --- clock ------------------------------------------------------------------
    def now_ms(self) -> int:
        with self._lock:
            return self._clock_base_ms + int((time.monotonic() - self._clock_set_at) * 1000)

    def set_clock(self, moment: datetime | int) -> None:
        """Set the server's clock; it runs on in real time from there."""
        ms = moment if isinstance(moment, int) else int(moment.timestamp() * 1000)
        with self._lock:
            self._clock_base_ms = ms
            self._clock_set_at = time.monotonic()

    def advance(self, seconds: float) -> None:
        self.set_clock(self.now_ms() + int(seconds * 1000))

    # --- candles --------------------------------------------------------------------
    def set_candles(self, symbol: str, interval: str, rows: Iterable[Sequence[Any]]) -> None:
        """Serve these rows (open_ms, o, h, l, c, v) instead of the bundled file."""
        with self._lock:
            self._series[(symbol, interval)] = series_from_rows(rows)

    def hide_candles(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> None:
        """Leave out the candles opening in [start_ms, end_ms] (an exchange outage)."""
        with self._lock:
            self._hidden.setdefault((symbol, interval), []).append((start_ms, end_ms))

    def unhide_candles(self, symbol: str, interval: str) -> None:
        with self._lock:
            self._hidden.pop((symbol, interval), None)

    def preload(self) -> None:
        """Read every bundled file now (once per process), so no request waits for it."""
        for path in sorted((self.data_dir / "binance").glob("*.csv*")):
            load_series(path)

    def series(self, symbol: str, interval: str) -> Series | None:
        with self._lock:
            found = self._series.get((symbol, interval))
        if found is not None:
            return found
        for name in (f"{symbol}-{interval}.csv.gz", f"{symbol}-{interval}.csv"):
            path = self.data_dir / "binance" / name
            if path.exists():
                return load_series(path)
        return None

    # --- faults and counters -----------------------------------------------------------
    def inject(self, path: str, *faults: Fault) -> None:
        """Queue faults for ``path`` (e.g. ``/api/v3/klines``); each is used once."""
        with self._lock:
            self.faults.setdefault(path, deque()).extend(faults)

    def count(self, path: str, method: str | None = None) -> int:
        with self._lock:
            return sum(n for (m, p), n in self.hits.items() if p == path and method in (None, m))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path)
            if not queue:
                return None
            for fault in list(queue):
                if fault.method in (None, method):
                    queue.remove(fault)
                    return fault
            return None

    # --- balances and orders for tests -------------------------------------------------
    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        with self._lock:
            return self.free.get(asset, Decimal(0)), self.locked.get(asset, Decimal(0))

    def find_order(self, client_order_id: str) -> FakeOrder | None:
        with self._lock:
            return next((o for o in reversed(self.orders) if o.client_order_id == client_order_id), None)

    def fill_order(
        self, client_order_id: str, price: Decimal | None = None, quantity: Decimal | None = None
    ) -> FakeOrder:
        """Fill a resting LIMIT order (at its limit price unless told), completely
        or by ``quantity`` (a partial fill: the order stays PARTIALLY_FILLED)."""
        with self._lock:
            order = self.find_order(client_order_id)
            if order is None or not order.is_open:
                raise KeyError(f"no open order {client_order_id}")
            remaining = order.quantity - order.executed_qty
            quantity = remaining if quantity is None else quantity
            if not 0 < quantity <= remaining:
                raise ValueError(f"cannot fill {quantity} of {remaining} remaining")
            base, quote = self._assets(order.symbol)
            fill_price = price or order.price
            if order.side == "BUY":
                self._unlock(quote, quantity * order.price)
            else:
                self._unlock(base, quantity)
            self._execute(order, fill_price, quantity)
            return order

    def trades(self, client_order_id: str | None = None) -> list[dict[str, Any]]:
        """Every fill as the trade list reports it (of one order when told)."""
        with self._lock:
            return [
                self._trade_json(order, fill)
                for order in self.orders
                if client_order_id in (None, order.client_order_id)
                for fill in order.fills
            ]

    # --- request handling --------------------------------------------------------------
    def handle(self, method: str, target: str, body: str, headers: dict[str, str]) -> Reply:
        parts = urlsplit(target)
        path = parts.path
        with self._lock:
            self.hits[(method, path)] += 1
        now = self.now_ms()
        if now < self.banned_until_ms:
            return self._ban_reply(now)
        fault = self._take_fault(method, path)
        if fault is not None and fault.kind == "status":
            if fault.ban_seconds:
                with self._lock:
                    self.banned_until_ms = now + int(fault.ban_seconds * 1000)
                return self._ban_reply(now)
            ctype = dict(fault.headers).get("Content-Type", "application/json")
            extra = [(k, v) for k, v in fault.headers if k != "Content-Type"]
            return Reply(fault.status, fault.body, [("Content-Type", ctype), *extra])
        if fault is not None and fault.kind == "timeout_unprocessed":
            return Reply(504, "", delay=fault.seconds)
        try:
            reply = self._route(method, path, parts.query, body, headers)
        except ApiError as exc:
            reply = _json_reply({"code": exc.code, "msg": exc.msg}, exc.status)
        if fault is not None and fault.kind == "timeout":
            reply.delay = fault.seconds
        if fault is not None and fault.kind == "lose_response":
            reply.drop = True
        return reply

    def _ban_reply(self, now: int) -> Reply:
        seconds = max(1, (self.banned_until_ms - now + 999) // 1000)
        body = {"code": -1003, "msg": f"Way too many requests; IP(127.0.0.1) banned until "
                f"{self.banned_until_ms}. Please use WebSocket Streams for live updates to avoid bans."}
        return _json_reply(body, 418, [("Retry-After", str(seconds))])

    def _route(self, method: str, path: str, query: str, body: str, headers: dict[str, str]) -> Reply:
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        public = {
            ("GET", "/api/v3/ping"): lambda: {},
            ("GET", "/api/v3/time"): lambda: {"serverTime": self.now_ms()},
            ("GET", "/api/v3/exchangeInfo"): lambda: self._exchange_info(params),
            ("GET", "/api/v3/klines"): lambda: self._klines(params),
            ("GET", "/api/v3/ticker/price"): lambda: self._ticker(params),
        }
        signed = {
            ("POST", "/api/v3/order"): self._new_order,
            ("GET", "/api/v3/order"): self._query_order,
            ("DELETE", "/api/v3/order"): self._cancel_order,
            ("GET", "/api/v3/account"): self._account,
            ("GET", "/api/v3/myTrades"): self._my_trades,
        }
        if (method, path) in public:
            return _json_reply(public[(method, path)]())
        if (method, path) in signed:
            self._authenticate(query, body, params, headers)
            with self._lock:
                return _json_reply(signed[(method, path)](params))
        return _json_reply({"code": -1000, "msg": f"Unknown endpoint {method} {path}"}, 404)

    def _authenticate(self, query: str, body: str, params: dict[str, str], headers: dict[str, str]) -> None:
        key = headers.get("x-mbx-apikey")
        if not key:
            raise ApiError(-2014, "API-key format invalid.", 401)
        if key != self.api_key:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        signature = params.get("signature")
        if not signature:
            raise _mandatory("signature")
        # Binance signs the query string followed by the body, as sent, minus the signature.
        total = _without_signature(query) + _without_signature(body)
        expected = hmac.new(self.api_secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise ApiError(-1022, "Signature for this request is not valid.")
        try:
            stamp = int(params["timestamp"])
            window = int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            raise _mandatory("timestamp") from None
        if window > 60_000:
            raise ApiError(-1131, "recvWindow must be less than 60000")
        now = self.now_ms()
        if not (stamp < now + 1000 and now - stamp <= window):
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")

    # --- public endpoints ---------------------------------------------------------------
    def _symbol(self, params: dict[str, str]) -> dict[str, Any]:
        symbol = params.get("symbol")
        if not symbol:
            raise _mandatory("symbol")
        info = self.symbols.get(symbol)
        if info is None:
            raise ApiError(-1121, "Invalid symbol.")
        return info

    def _exchange_info(self, params: dict[str, str]) -> dict[str, Any]:
        symbols = [self._symbol(params)] if "symbol" in params else list(self.symbols.values())
        return {**self.exchange_info, "serverTime": self.now_ms(), "symbols": symbols}

    def _klines(self, params: dict[str, str]) -> list[list[Any]]:
        symbol = self._symbol(params)["symbol"]
        interval = params.get("interval")
        if not interval:
            raise _mandatory("interval")
        if interval not in INTERVAL_MS:
            raise ApiError(-1120, "Invalid interval.")
        try:
            limit = int(params.get("limit", "500"))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            raise ApiError(-1100, "Illegal characters found in a parameter.") from None
        if not 1 <= limit <= 1000:
            raise ApiError(-1130, "Invalid data sent for a parameter.")
        series = self.series(symbol, interval)
        if series is None:
            return []
        step = INTERVAL_MS[interval]
        now = self.now_ms()
        hidden = self._hidden.get((symbol, interval), [])
        newest = now if end is None else min(end, now)
        hi = bisect.bisect_right(series.open_times, newest)
        picked: list[int] = []
        if start is not None:
            i = bisect.bisect_left(series.open_times, start)
            while i < hi and len(picked) < limit:
                if not _is_hidden(series.open_times[i], hidden):
                    picked.append(i)
                i += 1
        else:
            i = hi - 1
            while i >= 0 and len(picked) < limit:
                if not _is_hidden(series.open_times[i], hidden):
                    picked.append(i)
                i -= 1
            picked.reverse()
        rows = []
        for i in picked:
            opened = series.open_times[i]
            o, h, low, c, v = series.lines[i].split(",")
            if opened + step > now:  # still forming: only its open is known
                h = low = c = o
                v = "0"
            rows.append([
                opened, _fmt(o), _fmt(h), _fmt(low), _fmt(c), _fmt(v), opened + step - 1,
                "0.00000000", 0, "0.00000000", "0.00000000", "0",
            ])
        return rows

    def current_price(self, symbol: str) -> Decimal:
        """The open of the candle that contains the clock (the finest series there is)."""
        now = self.now_ms()
        for interval in INTERVAL_MS:
            series = self.series(symbol, interval)
            if series is None or not len(series.open_times):
                continue
            i = bisect.bisect_right(series.open_times, now) - 1
            if i < 0:
                return Decimal(series.lines[0].split(",")[0])
            fields = series.lines[i].split(",")
            if series.open_times[i] + INTERVAL_MS[interval] > now:
                return Decimal(fields[0])
            return Decimal(fields[3])  # past the end of the data: the last close
        raise ApiError(-1121, "Invalid symbol.")

    def _ticker(self, params: dict[str, str]) -> dict[str, str]:
        symbol = self._symbol(params)["symbol"]
        return {"symbol": symbol, "price": money(self.current_price(symbol))}

    # --- signed endpoints ------------------------------------------------------------------
    def _assets(self, symbol: str) -> tuple[str, str]:
        info = self.symbols[symbol]
        return info["baseAsset"], info["quoteAsset"]

    def _filters(self, symbol: str) -> dict[str, dict[str, Any]]:
        return {f["filterType"]: f for f in self.symbols[symbol]["filters"]}

    def _new_order(self, params: dict[str, str]) -> dict[str, Any]:
        info = self._symbol(params)
        symbol = info["symbol"]
        side = params.get("side", "")
        if side not in ("BUY", "SELL"):
            raise _mandatory("side")
        order_type = params.get("type", "")
        if order_type not in ("MARKET", "LIMIT"):
            raise ApiError(-1116, "Invalid orderType.")
        quantity = _decimal(params, "quantity")
        cid = params.get("newClientOrderId") or f"fake{self._next_order_id:08d}"
        if any(o.client_order_id == cid and o.is_open for o in self.orders):
            raise ApiError(-2010, "Duplicate order sent.")
        filters = self._filters(symbol)
        lot = filters["LOT_SIZE"]
        min_qty, max_qty, step = (Decimal(lot[k]) for k in ("minQty", "maxQty", "stepSize"))
        if quantity < min_qty or quantity > max_qty or (quantity - min_qty) % step:
            raise ApiError(-1013, "Filter failure: LOT_SIZE")
        if order_type == "LIMIT":
            if params.get("timeInForce") not in ("GTC", "IOC", "FOK"):
                raise _mandatory("timeInForce")
            price = _decimal(params, "price")
            pf = filters["PRICE_FILTER"]
            min_price, max_price, tick = (Decimal(pf[k]) for k in ("minPrice", "maxPrice", "tickSize"))
            if price < min_price or price > max_price or (price - min_price) % tick:
                raise ApiError(-1013, "Filter failure: PRICE_FILTER")
        else:
            price = self.current_price(symbol)
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL")
        if notional and quantity * price < Decimal(notional["minNotional"]):
            raise ApiError(-1013, "Filter failure: NOTIONAL")
        base, quote = self._assets(symbol)
        need_asset, need = (quote, quantity * price) if side == "BUY" else (base, quantity)
        if self.free.get(need_asset, Decimal(0)) < need:
            raise ApiError(-2010, "Account has insufficient balance for requested action.")
        now = self.now_ms()
        order = FakeOrder(
            order_id=self._next_order_id,
            client_order_id=cid,
            symbol=symbol,
            side=side,
            type=order_type,
            quantity=quantity,
            price=price if order_type == "LIMIT" else Decimal(0),
            time_in_force=params.get("timeInForce", "GTC"),
            status="NEW",
            created_ms=now,
        )
        self._next_order_id += 1
        self.orders.append(order)
        if order_type == "MARKET":
            self._execute(order, price)
        else:
            self._lock_funds(need_asset, need)
        reply = {**order.as_json(), "transactTime": now, "fills": [_public(f) for f in order.fills]}
        for key in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking", "origQuoteOrderQty"):
            reply.pop(key, None)
        kind = params.get("newOrderRespType", "FULL")
        if kind == "ACK":
            return {k: reply[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")}
        if kind == "RESULT":
            reply.pop("fills")
        return reply

    def _execute(self, order: FakeOrder, price: Decimal, quantity: Decimal | None = None) -> None:
        """Fill ``quantity`` (default: all that remains) of ``order`` at ``price``."""
        base, quote = self._assets(order.symbol)
        quantity = order.quantity - order.executed_qty if quantity is None else quantity
        cost = quantity * price
        if order.side == "BUY":
            commission, commission_asset = (quantity * self.fee_rate).quantize(EIGHT), base
            self.free[quote] = self.free.get(quote, Decimal(0)) - cost
            self.free[base] = self.free.get(base, Decimal(0)) + quantity - commission
        else:
            commission, commission_asset = (cost * self.fee_rate).quantize(EIGHT), quote
            self.free[base] = self.free.get(base, Decimal(0)) - quantity
            self.free[quote] = self.free.get(quote, Decimal(0)) + cost - commission
        order.executed_qty += quantity
        order.quote_qty += cost
        order.status = "FILLED" if order.executed_qty == order.quantity else "PARTIALLY_FILLED"
        order.updated_ms = self.now_ms()
        order.fills.append({
            "price": money(price),
            "qty": money(quantity),
            "commission": money(commission),
            "commissionAsset": commission_asset,
            "tradeId": self._next_trade_id,
            "_time": order.updated_ms,  # not in an order reply; the trade list shows it
        })
        self._next_trade_id += 1

    def _trade_json(self, order: FakeOrder, fill: dict[str, Any]) -> dict[str, Any]:
        price, qty = Decimal(fill["price"]), Decimal(fill["qty"])
        return {
            "symbol": order.symbol, "id": fill["tradeId"], "orderId": order.order_id, "orderListId": -1,
            "price": fill["price"], "qty": fill["qty"], "quoteQty": money(price * qty),
            "commission": fill["commission"], "commissionAsset": fill["commissionAsset"],
            "time": fill["_time"], "isBuyer": order.side == "BUY", "isMaker": order.type == "LIMIT",
            "isBestMatch": True,
        }

    def _my_trades(self, params: dict[str, str]) -> list[dict[str, Any]]:
        symbol = self._symbol(params)["symbol"]
        order_id = params.get("orderId")
        return [
            self._trade_json(order, fill)
            for order in self.orders
            if order.symbol == symbol and order_id in (None, str(order.order_id))
            for fill in order.fills
        ]

    def _lock_funds(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, Decimal(0)) - amount
        self.locked[asset] = self.locked.get(asset, Decimal(0)) + amount

    def _unlock(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] = self.locked.get(asset, Decimal(0)) - amount
        self.free[asset] = self.free.get(asset, Decimal(0)) + amount

    def _lookup(self, params: dict[str, str]) -> FakeOrder | None:
        symbol = self._symbol(params)["symbol"]
        cid = params.get("origClientOrderId")
        oid = params.get("orderId")
        if not cid and not oid:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were "
                           "empty/null!")
        for order in reversed(self.orders):
            if order.symbol == symbol and (order.client_order_id == cid or str(order.order_id) == oid):
                return order
        return None

    def _query_order(self, params: dict[str, str]) -> dict[str, Any]:
        order = self._lookup(params)
        if order is None:
            raise ApiError(-2013, "Order does not exist.")
        return order.as_json()

    def _cancel_order(self, params: dict[str, str]) -> dict[str, Any]:
        order = self._lookup(params)
        if order is None or not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        base, quote = self._assets(order.symbol)
        if order.side == "BUY":
            self._unlock(quote, (order.quantity - order.executed_qty) * order.price)
        else:
            self._unlock(base, order.quantity - order.executed_qty)
        order.status = "CANCELED"
        order.updated_ms = self.now_ms()
        reply = order.as_json()
        return {
            "symbol": order.symbol,
            "origClientOrderId": order.client_order_id,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": params.get("newClientOrderId") or f"cancel{order.order_id}",
            "transactTime": order.updated_ms,
            **{k: reply[k] for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status",
                                     "timeInForce", "type", "side", "selfTradePreventionMode")},
        }

    def _account(self, params: dict[str, str]) -> dict[str, Any]:
        assets = sorted(set(self.free) | set(self.locked))
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": self.now_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": a, "free": money(self.free.get(a, Decimal(0))),
                 "locked": money(self.locked.get(a, Decimal(0)))}
                for a in assets
            ],
            "permissions": ["SPOT"], "uid": 1,
        }


def _public(fill: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fill.items() if not k.startswith("_")}


def _json_reply(payload: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, json.dumps(payload), [("Content-Type", "application/json"), *(headers or [])])


def _without_signature(raw: str) -> str:
    return "&".join(p for p in raw.split("&") if p and not p.startswith("signature="))


def _is_hidden(open_ms: int, hidden: list[tuple[int, int]]) -> bool:
    return any(lo <= open_ms <= hi for lo, hi in hidden)


def _fmt(text: str) -> str:
    """A bundled decimal ("105573.7") as Binance writes it ("105573.70000000")."""
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction:0<8}" if len(fraction) <= 8 else money(Decimal(text))


def _decimal(params: dict[str, str], name: str) -> Decimal:
    try:
        value = Decimal(params[name])
    except KeyError:
        raise _mandatory(name) from None
    except InvalidOperation:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite() or value <= 0:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


# --- HTTP ----------------------------------------------------------------------------
class FakeBinanceServer(LocalHTTPServer):
    """Serves a :class:`FakeBinance` on 127.0.0.1 (an ephemeral port unless told)."""

    def __init__(self, fake: FakeBinance, *, port: int = 0) -> None:
        # HTTP/1.0: every answer closes its connection, as this fake always has.
        super().__init__(self._respond, port=port, name="fake-binance", protocol_version="HTTP/1.0")
        self.fake = fake
        self.url = self.origin
        fake.url = self.url

    def _respond(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        reply = self.fake.handle(method, target, raw.decode("utf-8"), headers)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            return None
        return reply.status, reply.headers, reply.body.encode("utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Binance spot REST API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--clock", help="server time to start from, ISO 8601 UTC (default: now)")
    parser.add_argument("--api-key", default=API_KEY)
    parser.add_argument("--api-secret", default=API_SECRET)
    args = parser.parse_args(argv)
    clock = None
    if args.clock:
        try:
            clock = datetime.fromisoformat(args.clock)
        except ValueError:
            parser.error(f"--clock {args.clock!r} is not an ISO 8601 date-time")
        if clock.tzinfo is None:
            clock = clock.replace(tzinfo=UTC)
    fake = FakeBinance(api_key=args.api_key, api_secret=args.api_secret, clock=clock)
    fake.preload()
    server = FakeBinanceServer(fake, port=args.port).start()
    print(f"fake Binance on {server.url} (BINANCE_BASE_URL={server.url} BINANCE_TESTNET=false "
          f"BINANCE_API_KEY={args.api_key} BINANCE_API_SECRET=...); Ctrl-C stops it", flush=True)
    wait_for_ctrl_c()
    server.stop()


if __name__ == "__main__":
    main()
