"""Chaos run: trading cycles of a live bot against the local fake Binance with
random exchange faults injected at a fixed seed.

At the end (faults cleared, one last reconciliation) the local books must
equal the fake exchange's: every order the exchange has exists locally once,
with the same status, executed quantity and trade ids; orders it never got
are REJECTED or CANCELED; the bot's position is the exchange's BTC balance
and its cash the USDT balance; no order is left open or UNKNOWN; no balance
mismatch was ever seen; the audit chain verifies. Zero duplicate orders.

:func:`chaos` is the harness (the test suite runs it on a smaller count inside
its test database). ``run()`` runs 1,000 cycles in a child process with a
throwaway SQLite database and prints the figures; ``python -m bench.chaos``.
No real sleeping: the adapter's sleep and clock are injected, bans run on the
fake exchange's clock, and no fault is a real timeout.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._child import command_line, emit, run_child, throwaway_django

ORDER = "/api/v3/order"
KLINES = "/api/v3/klines"
TICKER = "/api/v3/ticker/price"
ACCOUNT = "/api/v3/account"
TRADES = "/api/v3/myTrades"


def _faults() -> list[tuple[str, int, Callable[[random.Random], list[tuple[str, Any]]]]]:
    """(kind, weight, make) where make(rng) gives the [(path, Fault)] of one fault."""
    from tests.fakes.binance import Fault

    def one(path: str, fault: Any) -> list[tuple[str, Any]]:
        return [(path, fault)]

    lost = Fault.lose_response(method="POST")
    return [
        ("rate_limited_read", 3, lambda r: one(r.choice([KLINES, TICKER, ACCOUNT]), Fault.rate_limited(retry_after=1))),
        ("rate_limited_order", 2, lambda r: one(ORDER, Fault.rate_limited(retry_after=1, method="POST"))),
        ("ip_banned", 1, lambda r: one(r.choice([KLINES, TICKER, ACCOUNT, ORDER]), Fault.banned(r.choice([60, 120])))),
        ("server_error_read", 3, lambda r: one(r.choice([KLINES, TICKER, ACCOUNT, TRADES]), Fault.server_error(502))),
        ("server_error_order", 2, lambda r: one(ORDER, Fault.server_error(502, method="POST"))),
        ("unknown_execution", 2, lambda r: one(ORDER, Fault.unknown_execution(method="POST"))),
        ("lost_reply", 3, lambda r: one(ORDER, lost)),
        # the reply is lost, then the order cannot be queried this cycle: UNKNOWN until the next one
        ("lost_reply_query_down", 2, lambda r: [(ORDER, lost)] + [(ORDER, Fault.server_error(503, method="GET"))] * 4),
        # the reply is lost, and the exchange does not know the order at first
        ("lost_reply_not_found_yet", 2,
         lambda r: [(ORDER, lost), (ORDER, Fault.error(-2013, "Order does not exist.", method="GET"))]),
        ("lost_reply_trades_down", 1, lambda r: [(ORDER, lost)] + [(TRADES, Fault.server_error(502))] * 4),
        ("timestamp_drift", 2, lambda r: one(r.choice([ORDER, ACCOUNT]), Fault.timestamp_drift())),
        ("insufficient_balance", 1, lambda r: one(ORDER, Fault.insufficient_balance(method="POST"))),
        ("filter_failure", 1, lambda r: one(ORDER, Fault.filter_failure("LOT_SIZE", method="POST"))),
    ]


def chaos(
    *,
    fake: Any,
    adapter: Any,
    cycles: int,
    seed: int = 11,
    fault_rate: float = 0.4,
    start: datetime | None = None,
) -> dict[str, Any]:
    """Run ``cycles`` cycles of one live bot against ``fake`` and check the books.

    Django must be set up with the settings pointed at the fake, live trading
    enabled, and a database to write to. Returns the figures; raises
    AssertionError naming the first invariant that does not hold.
    """
    from audit.actors import Actor, Role
    from audit.models import Event
    from audit.services import verify_chain
    from trading import cycle, state
    from trading.adapters.errors import ExchangeError
    from trading.models import BalanceMismatch, Bot, BotConfig, Fill, Order, Position, SystemState
    from trading.reconcile import reconcile
    from trading.services import bot_config_create

    rng = random.Random(seed)
    kinds = _faults()
    weights = [w for _, w, _ in kinds]
    operator = Actor("chaos-operator", Role.OPERATOR)
    admin = Actor("chaos-admin", Role.ADMIN)
    # A day before the fake's default clock: the bundled 1m candles run on for 30 hours.
    start = start or datetime(2025, 8, 17, 12, 0, 30, tzinfo=UTC)
    sleeps: list[float] = []
    adapter.sleep = sleeps.append
    adapter.clock = lambda: fake.now_ms() / 1000  # bans end on the exchange's clock

    if state.current().state != SystemState.State.RUNNING:
        state.transition(target=SystemState.State.RUNNING, actor=admin, reason="chaos run")
    bot = Bot.objects.create(name=f"chaos-{seed}")
    bot_config_create(bot=bot, actor=admin, source=BotConfig.Source.SEED, symbol="BTCUSDT", timeframe="1m",
                      strategy="sma_cross", strategy_params={"fast": 2, "slow": 3},
                      risk_limits={"max_drawdown_pct": "0.5", "daily_loss_limit_pct": "0.5",
                                               "cooldown_after_losses": 0}, mode="live")

    injected: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    resumes = 0
    pending: list[tuple[str, list[tuple[str, Any]]]] = []
    began = time.perf_counter()
    for i in range(cycles):
        now = start + timedelta(minutes=i)
        fake.set_clock(now)
        # A fault lives for one cycle: it fired if its first request came; what is left is dropped.
        for kind, parts in pending:
            first_path, first = parts[0]
            if first not in fake.faults.get(first_path, ()):
                fired[kind] += 1
        fake.faults.clear()
        pending = []
        # The host's clock keeps time with the exchange's (NTP); while banned
        # the cycle finds out for itself.
        with contextlib.suppress(ExchangeError):
            adapter.sync_time()
        if rng.random() < fault_rate:
            for _ in range(rng.choice([1, 1, 2])):
                kind, _, make = rng.choices(kinds, weights)[0]
                parts = make(rng)
                for path, fault in parts:
                    fake.inject(path, fault)
                pending.append((kind, parts))
                injected[kind] += 1
        outcome = cycle.run_cycle(bot, now, Actor.scheduler())
        key = outcome.status
        if outcome.status == "skipped" and outcome.cycle is not None:
            key += ":" + outcome.cycle.detail.split(":", 1)[0]
        outcomes[key] += 1
        current = state.current().state
        if current == SystemState.State.PAUSED:
            state.resume(actor=operator, reason="chaos: resume after the pause")  # an operator steps in
            resumes += 1
        elif current == SystemState.State.EMERGENCY_STOP:
            state.transition(target=SystemState.State.RUNNING, actor=admin, reason="chaos: resume")
            resumes += 1
    elapsed = time.perf_counter() - began

    # The exchange settles down; one last reconciliation brings in what is left.
    for kind, parts in pending:
        if parts[0][1] not in fake.faults.get(parts[0][0], ()):
            fired[kind] += 1
    fake.faults.clear()
    fake.banned_until_ms = 0
    adapter.breaker.reset()
    fake.set_clock(start + timedelta(minutes=cycles))
    adapter.sync_time()
    for _ in range(3):
        [report] = reconcile(actor=Actor.system(), bot=bot)
        if not Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES).exists():
            break
    assert not report.error, report.error

    # --- the invariants ---
    exchange_ids = Counter(o.client_order_id for o in fake.orders)
    duplicates = sum(n - 1 for n in exchange_ids.values())
    assert duplicates == 0, f"duplicate orders on the exchange: {[c for c, n in exchange_ids.items() if n > 1]}"
    local = {o.client_order_id: o for o in Order.objects.filter(bot=bot)}
    for placed in fake.orders:
        order = local.get(placed.client_order_id)
        assert order is not None, f"{placed.client_order_id} is on the exchange but not in our books"
        assert order.status == placed.status, f"{order.client_order_id}: {order.status} vs {placed.status}"
        assert order.filled_quantity == placed.executed_qty, order.client_order_id
        ours = sorted(Fill.objects.filter(order=order).values_list("trade_id", flat=True))
        assert ours == sorted(str(f["tradeId"]) for f in placed.fills), order.client_order_id
    never_placed = [o for cid, o in local.items() if cid not in exchange_ids]
    assert all(o.status in ("REJECTED", "CANCELED") for o in never_placed), [
        (o.client_order_id, o.status) for o in never_placed if o.status not in ("REJECTED", "CANCELED")
    ]
    assert not Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES).exists()
    bot.refresh_from_db()
    position = Position.objects.filter(bot=bot, symbol="BTCUSDT").first()
    btc = sum(fake.balance("BTC"))
    usdt = sum(fake.balance("USDT"))
    assert (position.quantity if position else 0) == btc, f"position {position and position.quantity} vs {btc}"
    assert bot.cash == usdt, f"cash {bot.cash} vs {usdt}"
    assert not BalanceMismatch.objects.filter(bot=bot).exists(), "a balance mismatch was recorded"
    assert Fill.objects.filter(bot=bot).count() == len(fake.trades())
    chain = verify_chain()
    assert chain.ok, chain.problem

    cycle_reconciliations = Event.objects.filter(
        type="trading.cycle.completed", bot=bot, inputs__reconciliation__isnull=False
    ).count()
    events = Counter(Event.objects.filter(type__in=(
        "trading.order.unknown", "trading.order.reconciled", "trading.reconcile.completed",
        "exchange.ip_banned", "exchange.rate_limited", "exchange.timestamp_resynced",
    )).values_list("type", flat=True))
    statuses = Counter(o.status for o in local.values())
    return {
        "cycles": cycles,
        "seed": seed,
        "duration_s": round(elapsed, 2),
        "ms_per_cycle": round(elapsed / cycles * 1000, 1),
        "outcomes": dict(sorted(outcomes.items())),
        "orders_on_exchange": len(fake.orders),
        "orders_local": len(local),
        "orders_by_status": dict(sorted(statuses.items())),
        "fills": len(fake.trades()),
        "faults_injected": dict(sorted(injected.items())),
        "faults_injected_total": sum(injected.values()),
        "faults_fired": dict(sorted(fired.items())),
        "faults_fired_total": sum(fired.values()),
        "duplicates": duplicates,
        "orders_unknown": events["trading.order.unknown"],
        "orders_reconciled": events["trading.order.reconciled"],
        "reconciliations": cycle_reconciliations + events["trading.reconcile.completed"],
        "ip_bans": events["exchange.ip_banned"],
        "rate_limited": events["exchange.rate_limited"],
        "timestamp_resyncs": events["exchange.timestamp_resynced"],
        "pauses_resumed": resumes,
        "sleeps_injected_s": round(sum(sleeps), 1),
        "position_btc": str(btc),
        "cash_usdt": str(usdt),
        "audit_events": chain.checked,
        "audit_chain_ok": chain.ok,
    }


# --- the benchmark --------------------------------------------------------------------
def run(*, cycles: int = 1000, seed: int = 11) -> list[dict[str, Any]]:
    return run_child("bench.chaos", "--cycles", cycles, "--seed", seed, what="chaos run")


def _child(cycles: int, seed: int) -> None:
    from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance, FakeBinanceServer

    fake = FakeBinance(api_key=API_KEY, api_secret=API_SECRET)
    fake.preload()
    server = FakeBinanceServer(fake).start()
    with throwaway_django(
        MARKET_DATA="binance", LIVE_TRADING_ENABLED="true", BINANCE_BASE_URL=server.url,
        BINANCE_TESTNET="false", BINANCE_API_KEY=API_KEY, BINANCE_API_SECRET=API_SECRET, LOG_LEVEL="ERROR",
    ):
        from trading.adapters.binance import get_adapter

        try:
            figures = chaos(fake=fake, adapter=get_adapter(), cycles=cycles, seed=seed)
        finally:
            server.stop()
        emit([{"figure": "chaos_run", **figures}])


if __name__ == "__main__":
    command_line(run, _child, __doc__)
