"""Advisor latency: the time to produce one proposal with its evidence (before
and after backtests) on 30 days of BTCUSDT 1m candles (43,200) from the cache,
SQLite: by a person (``propose``), by the rules advisor (grid search included)
and by the OpenAI advisor against the local fake server. Medians of a few runs,
each on a fresh bot; plus the parts: loading the window and one backtest.

``run()`` works in a child process with a throwaway database.
``python -m bench.advisor`` prints one JSON line per figure.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any

from bench._child import command_line, emit, run_child, throwaway_django


def run(*, repeats: int = 3) -> list[dict[str, Any]]:
    return run_child("bench.advisor", "--repeats", repeats, what="advisor benchmark")


def _timed(work: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = work()
    return time.perf_counter() - began, result


def _child(repeats: int) -> None:
    with throwaway_django(ADVISOR_EVIDENCE_DAYS="30", APPROVALS_MAX_PENDING="100"):
        from django.conf import settings

        from approvals.advisor.services import advisor_run
        from approvals.evidence import backtest_values, window_for
        from approvals.services import propose
        from audit.actors import Actor, Role
        from tests.fakes.openai import API_KEY, FakeOpenAI, FakeOpenAIServer
        from trading.market_data import ReplaySource, refresh
        from trading.models import Bot
        from trading.services import bot_config_create
        from trading.timeframes import from_ms

        admin = Actor("bench", Role.ADMIN)
        series = ReplaySource().series("BTCUSDT", "1m")
        now = from_ms(int(series.open_time[-1]) + 60_000)  # just after the bundled data's last candle
        began = time.perf_counter()
        refresh("BTCUSDT", "1m", now=now, since=now - timedelta(days=31), source=ReplaySource())
        cache_seconds = time.perf_counter() - began

        def new_bot(name: str) -> Bot:
            bot = Bot.objects.create(name=name)
            bot_config_create(bot=bot, actor=admin, source="seed", symbol="BTCUSDT", timeframe="1m",
                              strategy="sma_cross", strategy_params={"fast": 10, "slow": 30}, risk_limits={})
            return bot

        values = {"symbol": "BTCUSDT", "strategy": "sma_cross", "strategy_params": {"fast": 10, "slow": 30},
                  "risk_limits": {}}
        loads, backtests, by_person, by_rules, by_openai = [], [], [], [], []
        candles = 0
        for i in range(repeats):
            seconds, window = _timed(lambda: window_for(symbol="BTCUSDT", timeframe="1m", now=now))
            loads.append(seconds)
            candles = len(window.candles)
            seconds, _ = _timed(lambda w=window: backtest_values(w.candles, values, initial_cash=Bot().initial_cash))
            backtests.append(seconds)
            bot = new_bot(f"person-{i}")
            seconds, approval = _timed(lambda b=bot: propose(
                bot=b, kind="strategy_params", change={"strategy_params": {"fast": 20, "slow": 60}},
                proposer=admin, rationale="bench"))
            assert approval.evidence["available"], approval.evidence
            by_person.append(seconds)
            bot = new_bot(f"rules-{i}")
            seconds, report = _timed(lambda b=bot: advisor_run(bot=b, advisor="rules", actor=admin, now=now))
            assert len(report.proposals) == 1, report.why_none()
            by_rules.append(seconds)
            grid_size = len(report.proposals[0].evidence["advisor_basis"]["grid"])

        fake = FakeOpenAI()
        server = FakeOpenAIServer(fake).start()
        settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = API_KEY, server.url, "gpt-fake"
        try:
            for i in range(repeats):
                bot = new_bot(f"openai-{i}")
                seconds, report = _timed(lambda b=bot: advisor_run(bot=b, advisor="openai", actor=admin, now=now))
                assert len(report.proposals) == 1, report.why_none()
                by_openai.append(seconds)
        finally:
            server.stop()

        def ms(values: list[float]) -> float:
            return round(statistics.median(values) * 1000, 1)

        common = {"candles": candles, "timeframe": "1m", "database": "sqlite", "runs": repeats}
        figures = [
            {"figure": "proposal_with_evidence_by_person", "value": ms(by_person), "unit": "ms", **common,
             "parts": "load window + 2 backtests + write"},
            {"figure": "proposal_with_evidence_by_rules_advisor", "value": ms(by_rules), "unit": "ms", **common,
             "grid_backtests": grid_size},
            {"figure": "proposal_with_evidence_by_openai_advisor", "value": ms(by_openai), "unit": "ms", **common,
             "model": "local fake server (no model latency)"},
            {"figure": "evidence_window_load", "value": ms(loads), "unit": "ms", **common},
            {"figure": "evidence_one_backtest", "value": ms(backtests), "unit": "ms", **common},
            {"figure": "cache_fill_31_days_1m", "value": round(cache_seconds, 2), "unit": "s"},
        ]
        emit(figures)


if __name__ == "__main__":
    command_line(run, _child, __doc__)
