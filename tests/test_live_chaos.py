"""The chaos run: 1,000 live cycles against the fake Binance with random
exchange faults at a fixed seed, and still zero duplicate orders, books equal
to the exchange's and an intact audit chain (the invariants are asserted in
``bench.chaos.chaos``; ``python -m bench.chaos`` prints the figures)."""

from __future__ import annotations

from bench.chaos import chaos

CYCLES = 1000  # about 40 s here; no real sleeping (injected sleep and clocks)


def test_random_exchange_faults_never_duplicate_an_order_or_lose_a_fill(live_env) -> None:  # type: ignore[no-untyped-def]
    figures = chaos(fake=live_env.fake, adapter=live_env.adapter, cycles=CYCLES, seed=11)
    assert figures["duplicates"] == 0
    assert figures["orders_on_exchange"] == figures["fills"] > 0
    # not a quiet run: orders were lost, left UNKNOWN and reconciled, and the
    # exchange banned, rate-limited and refused along the way
    fired = figures["faults_fired"]
    assert figures["orders_unknown"] >= 10 and figures["orders_reconciled"] >= figures["orders_unknown"]
    assert {"lost_reply_query_down", "unknown_execution", "ip_banned", "rate_limited_read"} <= set(fired)
    assert figures["audit_chain_ok"]
