"""Dashboard figures: server render time of the overview with 10,000 orders and
50,000 events, and the number of queries of every page.

``run()`` does its work in a child process with a throwaway SQLite database, so
it never touches the caller's database or settings. ``python -m bench.dashboard``
prints one JSON line per figure.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bench._child import command_line, percentile, run_child, throwaway_django

BOTS = 5


def run(*, orders: int = 10_000, events: int = 50_000, renders: int = 40) -> list[dict[str, Any]]:
    """One dict per figure (render times in milliseconds, query counts)."""
    return run_child("bench.dashboard", "--orders", orders, "--events", events, "--renders", renders,
                     what="dashboard benchmark")


def _build(orders: int, events: int) -> Any:
    """Bots with configs, snapshots, cycles, candles, ``orders`` orders with their
    fills, and a valid audit chain of ``events`` events, written in bulk."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from audit.actors import Actor
    from audit.models import ChainHead, Event
    from audit.services import canonical_json, compute_hash
    from trading.models import (
        Bot,
        BotConfig,
        Candle,
        CycleRun,
        EquitySnapshot,
        Fill,
        MetricsSnapshot,
        Order,
        Position,
        SystemState,
    )
    from trading.services import bot_config_create

    now = timezone.now().replace(second=0, microsecond=0)
    admin = User.objects.create_user("bench-admin")
    admin.groups.add(Group.objects.get(name="admin"))
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
    bots = []
    for b in range(BOTS):
        bot = Bot.objects.create(name=f"bench-{b}")
        bots.append(bot)
        bot_config_create(bot=bot, actor=Actor.system(), source=BotConfig.Source.SEED,
                          symbol="BTCUSDT" if b % 2 == 0 else "ETHUSDT", timeframe="1m",
                          strategy="sma_cross", strategy_params={"fast": 10, "slow": 30})
        bot_config_create(bot=bot, actor=Actor.system(), source=BotConfig.Source.MANUAL,
                          strategy_params={"fast": 8, "slow": 30})
        EquitySnapshot.objects.bulk_create(
            EquitySnapshot(bot=bot, taken_at=now - timedelta(minutes=2000 - i), cash=Decimal("10000"),
                           positions_value=Decimal(i), equity=Decimal("10000") + i, peak_equity=Decimal("12000"))
            for i in range(2000)
        )
        CycleRun.objects.bulk_create(
            CycleRun(bot=bot, started_at=now - timedelta(minutes=2000 - i), actor="scheduler",
                     status=CycleRun.Status.DONE, signal="HOLD", signal_reason="no cross",
                     decision="BLOCK", decision_reasons=["no signal"])
            for i in range(2000)
        )
        MetricsSnapshot.objects.create(bot=bot, taken_at=now, total_return=Decimal("0.01"), trade_count=10)
        Position.objects.create(bot=bot, symbol="BTCUSDT", quantity=Decimal("0.1"),
                                avg_entry_price=Decimal("60000"), last_price=Decimal("60100"))
    for symbol in ("BTCUSDT", "ETHUSDT"):
        Candle.objects.bulk_create(
            Candle(symbol=symbol, timeframe="1m", open_time=now - timedelta(minutes=1000 - i),
                   close_time=now - timedelta(minutes=999 - i), open=Decimal("60000"), high=Decimal("60100"),
                   low=Decimal("59900"), close=Decimal("60050"), volume=Decimal("3"))
            for i in range(1000)
        )
    rows = [
        Order(bot=bots[i % BOTS], client_order_id=f"bench-{i:08d}", symbol="BTCUSDT",
              side="BUY" if i % 2 == 0 else "SELL", quantity=Decimal("0.01"), status=Order.Status.FILLED,
              filled_quantity=Decimal("0.01"), avg_fill_price=Decimal("60000"),
              created_at=now - timedelta(seconds=60 * (orders - i)))
        for i in range(orders)
    ]
    Order.objects.bulk_create(rows, batch_size=2000)
    Fill.objects.bulk_create(
        (Fill(order=o, bot_id=o.bot_id, symbol=o.symbol, side=o.side, price=Decimal("60000"),
              quantity=Decimal("0.01"), quote_quantity=Decimal("600"), trade_id=f"t{o.pk}",
              filled_at=o.created_at + timedelta(seconds=1))
         for o in Order.objects.only("id", "bot_id", "symbol", "side", "created_at").iterator()),
        batch_size=2000,
    )
    # Continue the audit chain in bulk, hashing each row as audit.record would.
    head = ChainHead.objects.get(id=1)
    seq, prev = head.seq, head.hash
    start = now - timedelta(seconds=events)
    batch: list[Event] = []
    for i in range(events - seq):
        seq += 1
        bot = bots[i % BOTS]
        fields = {"seq": seq, "created_at": start + timedelta(seconds=i), "type": "trading.order.filled",
                  "actor": "scheduler", "bot_id": bot.pk, "message": f"filled order {i}",
                  "inputs": {"i": i}, "result": {"status": "FILLED"}}
        digest = compute_hash(canonical_json(**fields), prev)
        batch.append(Event(prev_hash=prev, hash=digest, **fields))
        prev = digest
        if len(batch) == 5000:
            Event.objects.bulk_create(batch)
            batch = []
    Event.objects.bulk_create(batch)
    ChainHead.objects.filter(id=1).update(seq=seq, hash=prev)
    return admin


def _child(orders: int, events: int, renders: int) -> None:
    with throwaway_django(prefix="bench-dashboard-", test_environment=True):
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from audit.models import Event
        from trading.models import Order

        admin = _build(orders, events)
        client = Client()
        client.force_login(admin)
        sizes = {"orders": Order.objects.count(), "events": Event.objects.count(), "bots": BOTS, "db": "sqlite"}

        def emit(figure: dict[str, Any]) -> None:
            print(json.dumps({**figure, **sizes}), flush=True)

        for name, headers in (("overview", {}), ("overview_live_fragment", {"HTTP_HX_REQUEST": "true"})):
            for _ in range(3):  # warm the template cache
                client.get("/", **headers)
            times = []
            for _ in range(renders):
                started = time.perf_counter()
                response = client.get("/", **headers)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            emit({"figure": f"dashboard.{name}.render_ms", "p50": round(percentile(times, 0.50), 2),
                  "p95": round(percentile(times, 0.95), 2), "renders": renders})

        first_event = Event.objects.order_by("seq").values_list("seq", flat=True).first()
        pages = ["/", "/system/badge/", "/bots/bench-0/", "/orders/", "/orders/?side=BUY&page=3", "/fills/",
                 "/events/", "/events/?type=trading.order", f"/events/{first_event}/", "/events/chain/",
                 "/orders/export.csv", "/fills/export.csv"]
        for url in pages:
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                if response.streaming:
                    b"".join(response.streaming_content)
                elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, url
            emit({"figure": "dashboard.page.queries", "page": url, "queries": len(queries),
                  "ms_once": round(elapsed, 1)})


if __name__ == "__main__":
    command_line(run, _child, __doc__)
