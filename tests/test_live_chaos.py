"""The chaos run: live cycles against the fake Binance with random exchange
faults at a fixed seed, and still zero duplicate orders, books equal to the
exchange's and an intact audit chain (the invariants are asserted in
``bench.chaos.chaos``). 1,000 cycles take one to two minutes on a shared
machine, so the suite runs 300 of them; ``python -m bench chaos`` runs the
1,000 and prints the figures."""

from __future__ import annotations

from bench.chaos import chaos

CYCLES = 300  # no real sleeping: the sleep and the clocks are injected


def test_random_exchange_faults_never_duplicate_an_order_or_lose_a_fill(live_env) -> None:  # type: ignore[no-untyped-def]
    figures = chaos(fake=live_env.fake, adapter=live_env.adapter, cycles=CYCLES, seed=11)
    assert figures["duplicates"] == 0
    assert figures["orders_on_exchange"] == figures["fills"] > 0
    # not a quiet run: orders were lost, left UNKNOWN and reconciled, and the
    # exchange banned, rate-limited and refused along the way
    fired = figures["faults_fired"]
    assert figures["orders_unknown"] >= 5 and figures["orders_reconciled"] >= figures["orders_unknown"]
    assert {"lost_reply_query_down", "unknown_execution", "ip_banned", "rate_limited_read"} <= set(fired)
    assert figures["audit_chain_ok"]
