"""The rules advisor through ``advisor_run``: tighter risk after a drawdown, a grid
search that proposes only a clear improvement, and the limits of the gate."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from approvals.advisor.services import AdvisorNotAllowed, UnknownAdvisor, advisor_run
from approvals.models import Approval
from approvals.services import reject
from audit.actors import Actor, Role
from audit.models import Event
from tests.advisor_data import cache_bundled, equity_history, eth_bot
from trading.models import Bot, BotConfig, Order, SystemState
from trading.services import bot_config_create

pytestmark = pytest.mark.django_db
SCHEDULER = Actor.scheduler()
OPERATOR = Actor("operator", Role.OPERATOR)
START = datetime.fromisoformat("2025-08-18T00:00:00+00:00")


@pytest.fixture(autouse=True)
def setup(settings):  # type: ignore[no-untyped-def]
    settings.PAPER_FEE_BPS = Decimal("10")
    settings.PAPER_SLIPPAGE_BPS = Decimal("0")
    settings.ADVISOR_EVIDENCE_DAYS = 30
    settings.APPROVALS_MAX_PENDING = 3
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})


def version(bot: Bot) -> int:
    return BotConfig.objects.get(bot=bot, is_active=True).version


def assert_nothing_applied(bot: Bot, config_version: int) -> None:
    assert version(bot) == config_version
    assert BotConfig.objects.filter(bot=bot).count() == 1
    assert not Order.objects.exists()
    assert SystemState.objects.get(id=1).state == "RUNNING"
    assert not Approval.objects.exclude(status=Approval.Status.PENDING).exists()


def test_after_a_drawdown_it_proposes_halving_the_position_size() -> None:
    cache_bundled()
    bot = eth_bot(limits={"max_drawdown_pct": "0.1"})
    before = version(bot)
    # 10,200 → 9,600: a 5.88 % fall, past half of the 10 % emergency stop
    equity_history(bot, ["10000", "10200", "9900", "9600"], start=START)
    report = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER)
    assert report.outcome == "proposed" and report.advisor == "advisor:rules"
    [approval] = report.proposals
    assert approval.kind == "risk_limits" and approval.status == "PENDING"
    assert approval.change["set"] == {"risk_limits": {"fraction_of_equity": "0.05", "max_position_pct_equity": "0.25"}}
    assert approval.on_expiry == "none"
    assert approval.proposer == "advisor:rules"
    assert "fell 5.88% from its peak" in approval.rationale and "stop is at 10.00%" in approval.rationale
    assert "grid search skipped: the risk proposal comes first" in report.notes
    # the evidence compares the two sizings on the same candles
    assert approval.evidence["available"] is True
    assert approval.evidence["before"]["trade_count"] == approval.evidence["after"]["trade_count"]
    assert approval.evidence["advisor_basis"]["rule"] == "drawdown"
    assert Decimal(approval.evidence["advisor_basis"]["deepest_under_config"]).quantize(Decimal("0.0001")) == Decimal(
        "0.0588")
    assert_nothing_applied(bot, before)
    run = Event.objects.get(type="advisor.run")
    assert run.actor == "scheduler" and run.result["proposals"] == [approval.pk]
    assert Event.objects.get(type="approvals.approval.proposed").actor == "advisor:rules"


def test_with_fixed_quote_sizing_it_halves_the_quote_amount() -> None:
    bot = eth_bot(limits={"sizing_mode": "fixed_quote", "fixed_quote": "1000", "max_drawdown_pct": "0.1"})
    equity_history(bot, ["10000", "9400"], start=START)
    [approval] = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER).proposals
    assert approval.change["set"] == {"risk_limits": {"fixed_quote": "500", "max_position_pct_equity": "0.25"}}
    # no candles cached: the proposal still goes to a human, the evidence says why
    assert approval.evidence["available"] is False


def test_a_shallow_fall_proposes_no_tightening() -> None:
    bot = eth_bot(limits={"max_drawdown_pct": "0.1"})
    equity_history(bot, ["10000", "9800", "9900"], start=START)
    report = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER)
    assert report.proposals == [] and report.outcome == "none"
    assert any("deepest fall under config" in note and "2.00%, below 5.00%" in note for note in report.notes)


def test_a_fall_under_an_earlier_version_does_not_tighten_the_new_one() -> None:
    bot = eth_bot(limits={"max_drawdown_pct": "0.1"})
    equity_history(bot, ["10000", "9000"], start=START)
    bot_config_create(bot=bot, actor=OPERATOR, source="manual", risk_limits={"max_drawdown_pct": "0.1",
                                                                           "fraction_of_equity": "0.05"})
    report = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER)
    assert report.proposals == []
    assert f"drawdown rule: no equity history under config v{version(bot)} yet" in report.notes


def test_sizing_already_at_its_bounds_is_not_shrunk_further() -> None:
    bot = eth_bot(limits={"max_drawdown_pct": "0.1", "fraction_of_equity": "0.001", "max_position_pct_equity": "0.001"})
    equity_history(bot, ["10000", "9000"], start=START)
    report = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER)
    assert report.proposals == []
    assert any("already at its smallest bounds" in note for note in report.notes)


def test_a_grid_search_proposes_clearly_better_parameters_and_says_by_how_much() -> None:
    cache_bundled()
    bot = eth_bot("donchian_breakout", {"entry_period": 20, "exit_period": 10})
    before = version(bot)
    report = advisor_run(bot=bot, advisor="rules", actor=OPERATOR)
    [approval] = report.proposals
    assert approval.kind == "strategy_params"
    assert approval.change["set"] == {"strategy_params": {"entry_period": 10, "exit_period": 20}}
    basis = approval.evidence["advisor_basis"]
    assert basis["rule"] == "grid_search" and len(basis["grid"]) == 9
    gain = Decimal(basis["return_gain"])
    assert gain >= Decimal("0.01")
    assert f"({gain * 100:+.2f} points)" in approval.rationale
    assert "2,880 ETHUSDT 15m candles (in-sample)" in approval.rationale
    # the evidence, built apart from the search, confirms the claim
    assert Decimal(approval.evidence["difference"]["total_return"]) == gain
    assert approval.evidence["before"]["metrics"]["total_return"] == basis["grid"][0]["total_return"]
    assert_nothing_applied(bot, before)


def test_a_grid_search_without_a_clear_winner_proposes_nothing_and_says_why() -> None:
    cache_bundled()
    bot = eth_bot("sma_cross", {"fast": 10, "slow": 30})
    report = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER)
    assert report.proposals == [] and report.outcome == "none"
    [note] = [n for n in report.notes if n.startswith("grid search")]
    assert "best fast=20, slow=60" in note and "below the +1.00 points bar: no proposal" in note
    assert Event.objects.get(type="advisor.run").result["outcome"] == "none"


def test_the_same_advice_is_not_proposed_twice_nor_again_after_a_rejection() -> None:
    cache_bundled()
    bot = eth_bot("donchian_breakout", {"entry_period": 20, "exit_period": 10})
    [first] = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER).proposals
    again = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER)
    assert again.proposals == [] and f"already pending as proposal #{first.pk}" in again.why_none()
    reject(approval_id=first.pk, actor=OPERATOR, note="no")
    after = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER)
    assert after.proposals == [] and f"rejected on config v{version(bot)}" in after.why_none()
    assert Approval.objects.filter(bot=bot).count() == 1


def test_with_the_pending_limit_reached_the_advisor_says_so_and_proposes_nothing(settings) -> None:  # type: ignore[no-untyped-def]
    settings.APPROVALS_MAX_PENDING = 1
    bot = eth_bot(limits={"max_drawdown_pct": "0.1"})
    equity_history(bot, ["10000", "9000"], start=START)
    from approvals.services import propose

    propose(bot=bot, kind="strategy_params", change={"strategy_params": {"fast": 12}}, proposer=OPERATOR)
    report = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER)
    assert report.outcome == "refused" and report.proposals == []
    assert report.why_none() == f"{bot.name} already has 1 pending proposals (at most 1): decide those first"
    assert Approval.objects.filter(bot=bot).count() == 1
    assert Event.objects.get(type="advisor.run").result["outcome"] == "refused"


def test_only_operators_admins_and_the_system_run_advisors() -> None:
    bot = eth_bot()
    for actor in (Actor("viewer", Role.VIEWER), Actor.advisor("rules")):
        with pytest.raises(AdvisorNotAllowed) as refused:
            advisor_run(bot=bot, advisor="rules", actor=actor)
        assert refused.value.http_status == 403
    with pytest.raises(UnknownAdvisor) as unknown:
        advisor_run(bot=bot, advisor="oracle", actor=OPERATOR)
    assert unknown.value.http_status == 400
    assert not Event.objects.filter(type="advisor.run").exists()


def test_advice_on_the_demos_past_clock_is_stamped_and_expires_in_real_time() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from approvals.services import expire_due

    bot = eth_bot(limits={"max_drawdown_pct": "0.1"})
    equity_history(bot, ["10000", "9000"], start=START)
    asked_at = timezone.now()
    [approval] = advisor_run(bot=bot, advisor="rules", actor=SCHEDULER, now=START + timedelta(hours=1)).proposals
    assert approval.created_at >= asked_at
    assert expire_due(now=timezone.now()) == []
    approval.refresh_from_db()
    assert approval.status == "PENDING"
