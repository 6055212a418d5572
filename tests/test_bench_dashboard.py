"""The dashboard benchmark runs and reports its figures (their values are never asserted)."""

from __future__ import annotations

import pytest

from bench.dashboard import run


@pytest.mark.slow
def test_dashboard_benchmark_reports_render_times_and_queries_per_page() -> None:
    figures = run(orders=40, events=60, renders=2)
    names = [f["figure"] for f in figures]
    assert names[:2] == ["dashboard.overview.render_ms", "dashboard.overview_live_fragment.render_ms"]
    assert {"p50", "p95"} <= set(figures[0])
    pages = {f["page"]: f["queries"] for f in figures if f["figure"] == "dashboard.page.queries"}
    assert {"/", "/orders/", "/fills/", "/events/", "/events/chain/"} <= set(pages)
    assert all(f["orders"] == 40 and f["events"] == 60 for f in figures)
