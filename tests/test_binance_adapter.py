"""The Binance adapter against the local fake, through the real python-binance client.

Waits are asserted on the adapter's injected sleep function, retries on the fake's
request counters, and bans on the injected clock: no test sleeps for real beyond
a client timeout of a fraction of a second.
"""

from __future__ import annotations

import socket
from decimal import Decimal
from typing import Any

import pytest

from audit.models import Event
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance, Fault
from tests.fakes.fixtures import FAKE_BINANCE_CLOCK
from trading import timeframes
from trading.adapters.binance import (
    BinanceAdapter,
    RetryPolicy,
    build_client,
    get_adapter,
    reset_adapters,
)
from trading.adapters.errors import (
    AuthenticationFailed,
    BadSymbol,
    DuplicateOrder,
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

KLINES = "/api/v3/klines"
ORDER = "/api/v3/order"
CLIENT_TIMEOUT = 5.0
# The client timeout of the timeout tests; their faults sleep past it. Their
# requests are tiny, so a loaded machine still answers the retry in time.
SHORT_TIMEOUT = 0.3
NOW_MS = timeframes.to_ms(FAKE_BINANCE_CLOCK)
MINUTE = 60_000


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def events() -> list[tuple[str, str, dict[str, Any]]]:
    return []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_adapter(fake_binance: FakeBinance, sleeps, clock, events):  # type: ignore[no-untyped-def]
    def make(
        *,
        secret: str = API_SECRET,
        key: str = API_KEY,
        retry: RetryPolicy | None = None,
        timeout: float = CLIENT_TIMEOUT,
    ) -> BinanceAdapter:
        client = build_client(api_key=key, api_secret=secret, base_url=fake_binance.url, testnet=True, timeout=timeout)
        return BinanceAdapter(
            client,
            sleep=sleeps.append,
            clock=clock,
            retry=retry,
            on_event=lambda *event: events.append(event),
        )

    return make


@pytest.fixture
def adapter(make_adapter) -> BinanceAdapter:  # type: ignore[no-untyped-def]
    return make_adapter()


def total_requests(fake: FakeBinance) -> int:
    return sum(fake.hits.values())


# --- reads ------------------------------------------------------------------------
def test_reads_server_time_rules_and_price_through_the_real_client(adapter, fake_binance) -> None:
    assert abs(adapter.server_time_ms() - NOW_MS) < 5_000
    rules = adapter.market_rules("BTCUSDT")
    assert (rules.tick_size, rules.step_size, rules.min_qty, rules.min_notional) == (
        Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal("5"),
    )
    assert (rules.base_asset, rules.quote_asset) == ("BTC", "USDT")
    eth = adapter.market_rules("ethusdt")
    assert (eth.tick_size, eth.step_size, eth.min_qty, eth.min_notional) == (
        Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"), Decimal("5"),
    )
    price = adapter.last_price("BTCUSDT")
    assert isinstance(price, Decimal)
    assert price == fake_binance.current_price("BTCUSDT")


def test_exchange_rules_are_cached_until_their_ttl_expires(adapter, fake_binance, clock) -> None:
    adapter.market_rules("BTCUSDT")
    adapter.market_rules("BTCUSDT")
    assert fake_binance.count("/api/v3/exchangeInfo") == 1
    clock.advance(adapter.exchange_info_ttl + 1)
    adapter.market_rules("BTCUSDT")
    assert fake_binance.count("/api/v3/exchangeInfo") == 2


def test_unknown_symbol_is_a_bad_symbol_error_and_not_retried(adapter, fake_binance, sleeps) -> None:
    with pytest.raises(BadSymbol) as caught:
        adapter.market_rules("NOPEUSDT")
    assert caught.value.code == -1121
    with pytest.raises(BadSymbol):
        adapter.klines("NOPEUSDT", "1m", limit=5)
    assert fake_binance.count(KLINES) == 1
    assert sleeps == []


def test_closed_klines_never_include_the_forming_candle(adapter) -> None:
    pages = list(adapter.closed_klines("BTCUSDT", "1m", start_ms=NOW_MS - 10 * MINUTE))
    klines = [k for page in pages for k in page]
    forming_open = NOW_MS - NOW_MS % MINUTE
    assert klines[-1].open_time == forming_open - MINUTE
    assert all(k.open_time + MINUTE <= NOW_MS for k in klines)
    assert all(isinstance(k.close, Decimal) for k in klines)


def test_closed_klines_trust_the_server_clock_over_a_callers_clock_ahead(adapter) -> None:
    far_future = NOW_MS + 3_600_000
    pages = list(adapter.closed_klines("BTCUSDT", "1m", start_ms=NOW_MS - 5 * MINUTE, now_ms=far_future))
    assert max(k.open_time for page in pages for k in page) == NOW_MS - NOW_MS % MINUTE - MINUTE


def test_closed_klines_page_through_long_ranges_without_holes(adapter, fake_binance) -> None:
    end = NOW_MS - NOW_MS % MINUTE - MINUTE
    start = end - 2499 * MINUTE
    pages = list(adapter.closed_klines("BTCUSDT", "1m", start_ms=start, end_ms=end))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    times = [k.open_time for page in pages for k in page]
    assert times == list(range(start, end + MINUTE, MINUTE))
    assert fake_binance.count(KLINES) == 3


# --- 429 -------------------------------------------------------------------------
def test_rate_limited_read_waits_at_least_retry_after_then_retries(adapter, fake_binance, sleeps, events) -> None:
    fake_binance.inject(KLINES, Fault.rate_limited(retry_after=7))
    assert len(adapter.klines("BTCUSDT", "1m", limit=3)) == 3
    assert fake_binance.count(KLINES) == 2
    assert len(sleeps) == 1 and sleeps[0] >= 7
    assert [e[0] for e in events] == ["exchange.rate_limited"]
    assert events[0][2]["retry_after"] == 7


def test_rate_limit_retries_are_bounded(make_adapter, fake_binance, sleeps) -> None:
    adapter = make_adapter(retry=RetryPolicy(max_attempts=3))
    fake_binance.inject(KLINES, *[Fault.rate_limited(retry_after=2)] * 5)
    with pytest.raises(RateLimited) as caught:
        adapter.klines("BTCUSDT", "1m", limit=3)
    assert caught.value.retry_after == 2
    assert fake_binance.count(KLINES) == 3
    assert sleeps == [2, 2]


def test_one_call_never_sleeps_longer_than_the_policys_total(make_adapter, fake_binance, sleeps) -> None:
    adapter = make_adapter(retry=RetryPolicy(max_attempts=5, max_total_wait=10))
    fake_binance.inject(KLINES, *[Fault.rate_limited(retry_after=6)] * 3)
    with pytest.raises(RateLimited):
        adapter.klines("BTCUSDT", "1m", limit=3)
    assert sleeps == [6]
    assert fake_binance.count(KLINES) == 2


def test_a_retry_after_longer_than_the_policy_allows_is_not_slept_through(adapter, fake_binance, sleeps) -> None:
    fake_binance.inject(KLINES, Fault.rate_limited(retry_after=600))
    with pytest.raises(RateLimited):
        adapter.klines("BTCUSDT", "1m", limit=3)
    assert fake_binance.count(KLINES) == 1
    assert sleeps == []


# --- 5xx and timeouts ---------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502])
def test_html_5xx_from_a_proxy_is_retried_like_any_5xx(adapter, fake_binance, sleeps, status) -> None:
    fake_binance.inject(KLINES, Fault.server_error(status))
    assert len(adapter.klines("BTCUSDT", "1m", limit=2)) == 2
    assert fake_binance.count(KLINES) == 2
    assert len(sleeps) == 1


def test_persistent_5xx_ends_as_exchange_unavailable_after_bounded_backoff(make_adapter, fake_binance, sleeps) -> None:
    adapter = make_adapter(retry=RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_max=8))
    fake_binance.inject(KLINES, *[Fault.server_error(502)] * 4)
    with pytest.raises(ExchangeUnavailable) as caught:
        adapter.klines("BTCUSDT", "1m", limit=2)
    assert caught.value.http_status == 502
    assert fake_binance.count(KLINES) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_read_timeout_is_retried(make_adapter, fake_binance, sleeps) -> None:
    adapter = make_adapter(timeout=SHORT_TIMEOUT)
    fake_binance.inject(KLINES, Fault.timeout(SHORT_TIMEOUT * 2))
    assert len(adapter.klines("BTCUSDT", "1m", limit=2)) == 2
    assert fake_binance.count(KLINES) == 2
    assert len(sleeps) == 1


def test_read_timeouts_end_as_request_timeout(make_adapter, fake_binance) -> None:
    adapter = make_adapter(retry=RetryPolicy(max_attempts=2), timeout=SHORT_TIMEOUT)
    fake_binance.inject(KLINES, Fault.timeout(SHORT_TIMEOUT * 2), Fault.timeout(SHORT_TIMEOUT * 2))
    with pytest.raises(RequestTimeout):
        adapter.klines("BTCUSDT", "1m", limit=2)
    assert fake_binance.count(KLINES) == 2


def test_refused_connection_is_exchange_unavailable(sleeps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = build_client(base_url=f"http://127.0.0.1:{port}", timeout=SHORT_TIMEOUT)
    adapter = BinanceAdapter(client, sleep=sleeps.append, clock=FakeClock(), retry=RetryPolicy(max_attempts=2))
    with pytest.raises(ExchangeUnavailable) as caught:
        adapter.server_time_ms()
    assert "connection" in str(caught.value)
    assert len(sleeps) == 1


# --- 418 ---------------------------------------------------------------------------
def test_ip_ban_holds_every_call_until_it_ends_without_reaching_the_exchange(
    adapter, fake_binance, clock, events
) -> None:
    fake_binance.inject(KLINES, Fault.banned(seconds=120))
    with pytest.raises(IpBanned) as caught:
        adapter.klines("BTCUSDT", "1m", limit=2)
    assert caught.value.until == clock.now + 120
    seen = total_requests(fake_binance)

    clock.advance(119)
    for call in (lambda: adapter.klines("BTCUSDT", "1m", limit=2), adapter.server_time_ms,
                 lambda: adapter.last_price("BTCUSDT"), adapter.balances):
        with pytest.raises(IpBanned):
            call()
    assert total_requests(fake_binance) == seen  # nothing reached the exchange
    assert [e[0] for e in events] == ["exchange.ip_banned"]

    clock.advance(2)
    fake_binance.advance(121)
    assert len(adapter.klines("BTCUSDT", "1m", limit=2)) == 2


def test_the_ban_breaker_is_shared_by_every_adapter_of_the_process(make_adapter, fake_binance) -> None:
    first, second = make_adapter(), make_adapter()
    fake_binance.inject("/api/v3/time", Fault.banned(seconds=60))
    with pytest.raises(IpBanned):
        first.server_time_ms()
    seen = total_requests(fake_binance)
    with pytest.raises(IpBanned):
        second.last_price("BTCUSDT")
    assert total_requests(fake_binance) == seen


def test_the_fake_keeps_refusing_during_a_ban(adapter, fake_binance, clock) -> None:
    fake_binance.inject(KLINES, Fault.banned(seconds=60))
    with pytest.raises(IpBanned):
        adapter.klines("BTCUSDT", "1m", limit=2)
    clock.advance(61)  # our breaker lets the call through, the exchange's ban has not ended
    with pytest.raises(IpBanned):
        adapter.server_time_ms()


# --- -1021 -------------------------------------------------------------------------
def test_timestamp_drift_resyncs_the_clock_offset_and_retries_once(adapter, fake_binance, events) -> None:
    adapter.balances()
    assert fake_binance.count("/api/v3/time") == 1  # synced before the first signed call
    fake_binance.advance(3600)  # the server's clock moves on: our offset is now an hour off
    balances = adapter.balances()
    assert balances["USDT"].free == Decimal("10000")
    assert fake_binance.count("/api/v3/account") == 3  # ok, refused with -1021, ok after resync
    assert fake_binance.count("/api/v3/time") == 2
    assert [e[0] for e in events] == ["exchange.timestamp_resynced"]
    assert events[0][2]["code"] == -1021


def test_timestamp_drift_twice_in_a_row_is_raised(adapter, fake_binance) -> None:
    adapter.balances()
    fake_binance.inject("/api/v3/account", Fault.timestamp_drift(), Fault.timestamp_drift())
    with pytest.raises(TimestampDrift):
        adapter.balances()
    assert fake_binance.count("/api/v3/account") == 3


# --- orders ----------------------------------------------------------------------------
def buy(adapter: BinanceAdapter, cid: str, qty: str = "0.01", **kwargs: Any):  # type: ignore[no-untyped-def]
    return adapter.place_order(symbol="BTCUSDT", side="BUY", quantity=Decimal(qty), client_order_id=cid, **kwargs)


def test_market_order_fills_at_the_current_price_and_moves_balances(adapter, fake_binance) -> None:
    price = fake_binance.current_price("BTCUSDT")
    result = buy(adapter, "bot1-000001")
    assert (result.status, result.client_order_id, result.executed_qty) == ("FILLED", "bot1-000001", Decimal("0.01"))
    assert result.fills[0].price == price
    assert result.avg_price == price
    balances = adapter.balances()
    assert balances["USDT"].free == Decimal("10000") - Decimal("0.01") * price
    assert balances["BTC"].free == Decimal("0.01") - result.fills[0].commission
    queried = adapter.get_order(symbol="BTCUSDT", client_order_id="bot1-000001")
    assert (queried.status, queried.order_id) == ("FILLED", result.order_id)


def test_insufficient_balance_is_rejected_and_not_retried(adapter, fake_binance, sleeps) -> None:
    with pytest.raises(InsufficientBalance) as caught:
        buy(adapter, "bot1-big", qty="1")  # about 115,000 USDT with 10,000 in the account
    assert caught.value.code == -2010
    fake_binance.inject(ORDER, Fault.insufficient_balance())
    with pytest.raises(InsufficientBalance):
        buy(adapter, "bot1-small")
    assert fake_binance.count(ORDER, "POST") == 2
    assert sleeps == []
    assert fake_binance.orders == []


@pytest.mark.parametrize(
    ("qty", "fault", "filter_name"),
    [
        ("0.000015", None, "LOT_SIZE"),  # not a multiple of the step size
        ("0.00001", None, "NOTIONAL"),  # about 1.15 USDT, under the 5 USDT minimum
        ("0.01", Fault.filter_failure("LOT_SIZE"), "LOT_SIZE"),
    ],
)
def test_filter_failure_is_rejected_with_the_filters_name(adapter, fake_binance, qty, fault, filter_name) -> None:
    if fault is not None:
        fake_binance.inject(ORDER, fault)
    with pytest.raises(FilterFailure) as caught:
        buy(adapter, "bot1-f", qty=qty)
    assert caught.value.filter == filter_name
    assert caught.value.code == -1013
    assert fake_binance.count(ORDER, "POST") == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault.server_error(500),
        Fault.server_error(502),
        Fault.unknown_execution(-1006),
        Fault.unknown_execution(-1007),
        Fault("status", 408, "<html>Request Timeout</html>", (("Content-Type", "text/html"),)),
        Fault.error(-1007, "Timeout waiting for response from backend server.", status=408),
    ],
    ids=["500-html", "502-html", "-1006", "-1007", "408-html-from-a-proxy", "408-1007"],
)
def test_5xx_or_unknown_execution_on_an_order_post_is_status_unknown_and_never_resent(
    adapter, fake_binance, sleeps, fault
) -> None:
    fake_binance.inject(ORDER, fault)
    with pytest.raises(OrderStatusUnknown) as caught:
        buy(adapter, "bot1-u1")
    assert caught.value.client_order_id == "bot1-u1"
    assert fake_binance.count(ORDER, "POST") == 1
    assert sleeps == []


def test_read_timeout_on_an_order_post_is_status_unknown_and_the_order_can_be_found(
    make_adapter, fake_binance
) -> None:
    adapter = make_adapter(timeout=SHORT_TIMEOUT)
    fake_binance.inject(ORDER, Fault.timeout(SHORT_TIMEOUT * 2, method="POST"))
    with pytest.raises(OrderStatusUnknown):
        buy(adapter, "bot1-t1")
    assert fake_binance.count(ORDER, "POST") == 1
    assert adapter.get_order(symbol="BTCUSDT", client_order_id="bot1-t1").status == "FILLED"


def test_a_lost_response_never_yields_a_second_order(adapter, fake_binance) -> None:
    fake_binance.inject(ORDER, Fault.lose_response(method="POST"))
    with pytest.raises(OrderStatusUnknown):
        buy(adapter, "bot1-lost")
    assert fake_binance.count(ORDER, "POST") == 1
    assert len(fake_binance.orders) == 1
    found = adapter.get_order(symbol="BTCUSDT", client_order_id="bot1-lost")
    assert (found.status, found.executed_qty) == ("FILLED", Decimal("0.01"))


def test_rate_limited_order_is_raised_not_retried(adapter, fake_binance, sleeps) -> None:
    fake_binance.inject(ORDER, Fault.rate_limited(retry_after=1, method="POST"))
    with pytest.raises(RateLimited):
        buy(adapter, "bot1-r")
    assert fake_binance.count(ORDER, "POST") == 1
    assert sleeps == []


def test_timestamp_drift_on_an_order_post_is_retried_once_after_resync(adapter, fake_binance) -> None:
    fake_binance.inject(ORDER, Fault.timestamp_drift(method="POST"))
    assert buy(adapter, "bot1-d").status == "FILLED"
    assert fake_binance.count(ORDER, "POST") == 2
    assert len(fake_binance.orders) == 1


def test_querying_an_unknown_order_is_order_not_found(adapter, fake_binance) -> None:
    with pytest.raises(OrderNotFound) as caught:
        adapter.get_order(symbol="BTCUSDT", client_order_id="never-sent")
    assert caught.value.code == -2013
    assert fake_binance.count(ORDER, "GET") == 1


def test_limit_order_rests_until_canceled_and_a_second_cancel_finds_nothing(adapter, fake_binance) -> None:
    placed = buy(adapter, "bot1-l1", qty="0.001", order_type="LIMIT", price=Decimal("100000.00"))
    assert placed.status == "NEW"
    assert fake_binance.balance("USDT") == (Decimal("9900"), Decimal("100"))
    canceled = adapter.cancel_order(symbol="BTCUSDT", client_order_id="bot1-l1")
    assert (canceled.status, canceled.client_order_id) == ("CANCELED", "bot1-l1")
    assert fake_binance.balance("USDT") == (Decimal("10000"), Decimal("0"))
    with pytest.raises(OrderNotFound):
        adapter.cancel_order(symbol="BTCUSDT", client_order_id="bot1-l1")


def test_client_order_id_of_an_open_order_cannot_be_used_twice(adapter, fake_binance) -> None:
    buy(adapter, "bot1-dup", qty="0.001", order_type="LIMIT", price=Decimal("100000.00"))
    with pytest.raises(DuplicateOrder) as caught:
        buy(adapter, "bot1-dup", qty="0.001", order_type="LIMIT", price=Decimal("100000.00"))
    assert isinstance(caught.value, OrderRejected)
    assert len(fake_binance.orders) == 1


def test_cancel_that_gets_no_reply_is_status_unknown(adapter, fake_binance) -> None:
    buy(adapter, "bot1-c", qty="0.001", order_type="LIMIT", price=Decimal("100000.00"))
    fake_binance.inject(ORDER, Fault.server_error(503, method="DELETE"))
    with pytest.raises(OrderStatusUnknown):
        adapter.cancel_order(symbol="BTCUSDT", client_order_id="bot1-c")
    assert fake_binance.count(ORDER, "DELETE") == 1


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [(API_KEY, "wrong-secret", -1022), ("wrong-key", API_SECRET, -2015)],
)
def test_bad_credentials_are_authentication_failures(make_adapter, key, secret, code) -> None:
    adapter = make_adapter(key=key, secret=secret)
    with pytest.raises(AuthenticationFailed) as caught:
        adapter.balances()
    assert caught.value.code == code


def test_orders_refuse_floats_and_unsafe_client_order_ids_before_sending(adapter, fake_binance) -> None:
    with pytest.raises(TypeError):
        adapter.place_order(symbol="BTCUSDT", side="BUY", quantity=0.01, client_order_id="ok-1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="client order id"):
        buy(adapter, "has:colon")
    with pytest.raises(ValueError, match="client order id"):
        buy(adapter, "x" * 37)
    with pytest.raises(ValueError, match="positive"):
        buy(adapter, "ok-2", qty="0")
    assert total_requests(fake_binance) == 0


def test_bad_request_content_is_invalid_request(adapter, fake_binance) -> None:
    with pytest.raises(InvalidRequest):
        adapter.klines("BTCUSDT", "1m", limit=1001)


# --- construction ----------------------------------------------------------------------
def test_an_explicit_base_url_overrides_testnet() -> None:
    client = build_client(base_url="http://127.0.0.1:9", testnet=True)
    assert client.testnet is False
    assert client._create_api_uri("klines", False) == "http://127.0.0.1:9/api/v3/klines"
    testnet = build_client(testnet=True)
    assert testnet._create_api_uri("klines", False).startswith("https://testnet.binance.vision/api/")
    live = build_client(testnet=False)
    assert live._create_api_uri("klines", False).startswith("https://api.binance.com/api/")


def test_get_adapter_follows_settings_and_is_shared(fake_binance, settings) -> None:
    adapter = get_adapter()
    assert adapter is get_adapter()
    assert adapter.client._create_api_uri("ping", False) == f"{fake_binance.url}/api/v3/ping"
    assert adapter.market_rules("BTCUSDT").min_notional == Decimal("5")
    settings.BINANCE_BASE_URL = "http://127.0.0.1:9"
    assert get_adapter() is not adapter
    reset_adapters()


@pytest.mark.django_db
def test_the_settings_adapter_records_rate_limits_and_bans_as_audit_events(fake_binance) -> None:
    adapter = get_adapter()
    adapter.sleep = lambda seconds: None
    fake_binance.inject(KLINES, Fault.rate_limited(retry_after=1))
    adapter.klines("BTCUSDT", "1m", limit=1)
    fake_binance.inject(KLINES, Fault.banned(seconds=30))
    with pytest.raises(IpBanned):
        adapter.klines("BTCUSDT", "1m", limit=1)
    types = list(Event.objects.order_by("seq").values_list("type", "actor"))
    assert types == [("exchange.rate_limited", "system"), ("exchange.ip_banned", "system")]
    assert Event.objects.get(type="exchange.rate_limited").result["retry_after"] == 1
