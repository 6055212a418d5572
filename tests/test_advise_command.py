"""``manage.py advise``: the proposals made or why none, and one clear line with a
non-zero exit on bad input."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from django.core.management import ManagementUtility, call_command

from approvals.models import Approval
from approvals.services import propose
from audit.actors import Actor, Role
from tests.advisor_data import cache_bundled, equity_history, eth_bot
from tests.fakes.openai import FakeOpenAI
from trading.models import Bot

pytestmark = pytest.mark.django_db
START = datetime.fromisoformat("2025-08-18T00:00:00+00:00")


def advise(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("advise", *args, stdout=out)
    return out.getvalue().splitlines()


def run_as_cli(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # type: ignore[no-untyped-def]
    """As from a shell: the exit status and what went to stdout and stderr."""
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "advise", *args]).execute()
    captured = capsys.readouterr()
    return exited.value.code, captured.out.splitlines(), captured.err.splitlines()


def falling_bot() -> Bot:
    bot = eth_bot(limits={"max_drawdown_pct": "0.1"})
    equity_history(bot, ["10000", "10200", "9600"], start=START)
    return bot


def test_prints_each_proposal_with_its_diff_rationale_and_evidence(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ADVISOR_EVIDENCE_DAYS = 30
    cache_bundled()
    bot = falling_bot()
    lines = advise("--bot", bot.name)
    approval = Approval.objects.get()
    assert lines[0].startswith(
        f"proposal #{approval.pk} by advisor:rules for {bot.name} (config v{approval.base_config.version}): "
        "risk_limits, pending until "
    )
    assert lines[0].endswith("UTC, on expiry: none")
    assert lines[1:3] == ["  risk_limits.fraction_of_equity: 0.1 → 0.05",
                          "  risk_limits.max_position_pct_equity: 0.5 → 0.25"]
    assert lines[3].startswith("  why: Equity fell 5.88% from its peak under config v")
    assert lines[4].startswith("  evidence: 2,880 ETHUSDT 15m candles (30 days to 2025-08-18T18:00): return ")
    assert "max drawdown" in lines[4] and "trades" in lines[4]
    assert len(lines) == 5


def test_prints_why_no_proposal_was_made() -> None:
    bot = eth_bot()
    lines = advise("--bot", bot.name, "--advisor", "rules")
    assert len(lines) == 1
    assert lines[0].startswith(f"advisor:rules on {bot.name}: no proposal: drawdown rule: no equity history")
    assert "grid search: 0 candles in the evidence window" in lines[0]
    assert not Approval.objects.exists()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--bot", "nope"], "CommandError: no bot named 'nope' (bots: {bot})"),
        (["--bot", "{bot}", "--advisor", "oracle"], "CommandError: --advisor 'oracle': use one of rules, openai"),
    ],
)
def test_bad_input_gets_one_clear_line_and_a_non_zero_exit(capsys, args, line) -> None:  # type: ignore[no-untyped-def]
    bot = eth_bot()
    status, out, err = run_as_cli(capsys, *[a.format(bot=bot.name) for a in args])
    assert status != 0
    assert out == [] and err == [line.format(bot=bot.name)]


def test_a_full_queue_is_refused_with_one_line_and_a_non_zero_exit(capsys, settings) -> None:  # type: ignore[no-untyped-def]
    settings.APPROVALS_MAX_PENDING = 1
    bot = eth_bot()
    propose(bot=bot, kind="strategy_params", change={"strategy_params": {"fast": 12}},
            proposer=Actor("operator", Role.OPERATOR))
    status, out, err = run_as_cli(capsys, "--bot", bot.name)
    assert status != 0 and out == []
    assert err == [f"CommandError: no proposal: {bot.name} already has 1 pending proposals (at most 1): "
                   "decide those first"]


def test_openai_without_a_key_is_refused_and_the_rules_advisor_serves(settings) -> None:  # type: ignore[no-untyped-def]
    settings.OPENAI_API_KEY = ""
    bot = falling_bot()
    lines = advise("--bot", bot.name, "--advisor", "openai")
    assert lines[0] == "refused: the OpenAI advisor needs OPENAI_API_KEY, which is not set; the rules advisor serves instead"
    assert lines[1].startswith("proposal #") and " by advisor:rules " in lines[1]


def test_openai_proposals_and_discards_are_printed(fake_openai: FakeOpenAI) -> None:
    bot = eth_bot()
    fake_openai.script("valid")
    lines = advise("--bot", bot.name, "--advisor", "openai")
    assert " by advisor:openai:gpt-fake " in lines[0]
    assert lines[1:3] == ["  strategy_params.fast: 10 → 12", "  strategy_params.slow: 30 → 40"]
    assert lines[4] == "  evidence: none (no ETHUSDT 15m candles in the cache up to " + lines[4].split("up to ")[1]
    fake_openai.script("out_of_range")
    [line] = advise("--bot", bot.name, "--advisor", "openai")
    assert line.startswith(f"advisor:openai:gpt-fake on {bot.name}: no proposal: discarded (failed_validation): ")


def test_an_unreachable_or_failing_model_is_an_error(capsys, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    bot = eth_bot()
    fake_openai.script("http_500", "http_500", "http_500")
    status, out, err = run_as_cli(capsys, "--bot", bot.name, "--advisor", "openai")
    assert status != 0 and out == []
    assert len(err) == 1 and err[0].startswith("CommandError: advisor:openai:gpt-fake failed: OpenAI answered HTTP 500")
