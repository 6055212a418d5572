"""The chaos benchmark runs in its own process and database and reports its figures."""

from __future__ import annotations

import pytest

from bench.chaos import run


@pytest.mark.slow
def test_chaos_benchmark_reports_the_run_and_its_invariants() -> None:
    [figure] = run(cycles=25, seed=3)
    assert figure["figure"] == "chaos_run" and figure["cycles"] == 25
    assert figure["duplicates"] == 0 and figure["audit_chain_ok"] is True
    assert {"faults_injected", "faults_fired", "orders_on_exchange", "reconciliations", "duration_s"} <= set(figure)
