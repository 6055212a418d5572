"""The approval gate through its services: every way a proposal can end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import services
from approvals.models import Approval
from audit.actors import Actor, Role
from audit.models import Event
from audit.services import verify_chain
from tests.factories import BotConfigFactory, OrderFactory
from trading import state
from trading.models import Bot, BotConfig, Order, SystemState
from trading.services import bot_config_create

ADVISOR = Actor.advisor("rules")
T0 = timezone.now().replace(microsecond=0)

pytestmark = pytest.mark.django_db


def make_bot() -> Bot:
    return BotConfigFactory(strategy="sma_cross", strategy_params={"fast": 10, "slow": 30}, risk_limits={}).bot


def active(bot: Bot) -> BotConfig:
    return BotConfig.objects.get(bot=bot, is_active=True)


def set_state(value: str) -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": value})


def propose_params(bot: Bot, on_expiry: str = "none", **params: int) -> Approval:
    return services.propose(
        bot=bot, kind="strategy_params", change={"strategy_params": params or {"fast": 12}},
        proposer=ADVISOR, rationale="slower", on_expiry=on_expiry, ttl_minutes=60, now=T0,
    )


def types_for(approval: Approval) -> list[str]:
    return list(
        Event.objects.filter(inputs__approval_id=approval.pk).order_by("seq").values_list("type", flat=True)
    )


def test_an_approved_proposal_becomes_the_next_config_version(operator) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    base = active(bot)
    approval = propose_params(bot, fast=12, slow=40)
    assert approval.status == Approval.Status.PENDING
    assert approval.proposer == "advisor:rules" and approval.base_config == base
    assert approval.change["diff"] == [
        {"path": "strategy_params.fast", "from": 10, "to": 12},
        {"path": "strategy_params.slow", "from": 30, "to": 40},
    ]
    assert approval.expires_at == T0 + timedelta(minutes=60)
    # evidence is always attempted; with an empty candle cache it says why there is none
    assert approval.evidence["available"] is False
    assert "no BTCUSDT 1m candles" in approval.evidence["reason"]

    decided = services.approve(approval_id=approval.pk, actor=Actor.for_user(operator), note="fine",
                               now=T0 + timedelta(minutes=5))
    assert decided.status == Approval.Status.APPLIED
    new = active(bot)
    assert new.version == base.version + 1 and decided.applied_config == new
    assert new.source == BotConfig.Source.APPROVAL and new.author == operator
    assert new.strategy_params == {"fast": 12, "slow": 40}
    assert (new.symbol, new.timeframe, new.strategy, new.risk_limits) == (
        base.symbol, base.timeframe, base.strategy, base.risk_limits)
    decided.refresh_from_db()
    assert decided.decided_by == operator and decided.decision_note == "fine"
    assert types_for(approval) == [
        "approvals.approval.proposed", "approvals.approval.approved", "approvals.approval.applied",
    ]
    proposed = Event.objects.get(type="approvals.approval.proposed")
    assert proposed.actor == "advisor:rules"
    assert Event.objects.get(type="approvals.approval.applied").actor == "operator"
    assert Event.objects.filter(type="trading.config.created", bot=bot, actor="operator").count() == 1
    assert verify_chain().ok


def test_a_rejected_proposal_changes_nothing(actors) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    base = active(bot)
    approval = propose_params(bot)
    services.reject(approval_id=approval.pk, actor=actors["admin"], note="not now", now=T0)
    approval.refresh_from_db()
    assert approval.status == Approval.Status.REJECTED and approval.decider_name == "admin"
    assert approval.applied_config is None
    assert active(bot) == base and BotConfig.objects.filter(bot=bot).count() == 1
    assert types_for(approval) == ["approvals.approval.proposed", "approvals.approval.rejected"]


def test_an_expired_proposal_with_no_policy_only_expires() -> None:
    set_state("RUNNING")
    bot = make_bot()
    approval = propose_params(bot, on_expiry="none")
    assert services.expire_due(now=T0 + timedelta(minutes=59)) == []
    expired = services.expire_due(now=T0 + timedelta(minutes=60))
    assert [a.pk for a in expired] == [approval.pk]
    approval.refresh_from_db()
    assert approval.status == Approval.Status.EXPIRED and approval.decider_name == "system"
    assert state.current().state == "RUNNING"
    assert not Event.objects.filter(type="system.state.changed").exists()
    assert types_for(approval) == ["approvals.approval.proposed", "approvals.approval.expired"]


def test_expiry_with_the_pause_policy_pauses_the_system_through_the_state_service() -> None:
    set_state("RUNNING")
    bot = make_bot()
    approval = propose_params(bot, on_expiry="pause")
    services.expire_due(now=T0 + timedelta(hours=2))
    assert state.current().state == "PAUSED"
    change = Event.objects.get(type="system.state.changed")
    assert change.actor == "system"
    assert change.inputs["from"] == "RUNNING" and change.inputs["to"] == "PAUSED"
    assert f"proposal #{approval.pk}" in change.message and "expired undecided" in change.message
    assert active(bot).version == approval.base_config.version  # the change itself is not applied


def test_expiry_with_the_emergency_stop_policy_stops_and_cancels_open_orders() -> None:
    set_state("RUNNING")
    bot = make_bot()
    order = OrderFactory(bot=bot, status=Order.Status.OPEN)
    propose_params(bot, on_expiry="emergency_stop")
    services.expire_due(now=T0 + timedelta(hours=2))
    assert state.current().state == "EMERGENCY_STOP"
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELED
    change = Event.objects.get(type="system.state.changed")
    assert change.inputs["to"] == "EMERGENCY_STOP" and change.result["canceled_orders"] == [order.client_order_id]
    assert Event.objects.filter(type="trading.order.canceled", actor="system").count() == 1


def test_a_pause_policy_never_lifts_an_emergency_stop() -> None:
    set_state("EMERGENCY_STOP")
    bot = make_bot()
    propose_params(bot, on_expiry="pause")
    services.expire_due(now=T0 + timedelta(hours=2))
    assert state.current().state == "EMERGENCY_STOP"
    assert not Event.objects.filter(type__startswith="system.state.").exists()


def test_a_proposal_on_a_stale_base_version_fails_and_changes_nothing(actors) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    approval = propose_params(bot, fast=12)
    moved = bot_config_create(bot=bot, actor=actors["admin"], source="manual", strategy_params={"fast": 5, "slow": 50})
    failed = services.approve(approval_id=approval.pk, actor=actors["operator"], now=T0)
    assert failed.status == Approval.Status.FAILED
    assert f"based on v{approval.base_config.version}, now v{moved.version}" in failed.failure_reason
    assert active(bot) == moved and active(bot).strategy_params == {"fast": 5, "slow": 50}
    assert BotConfig.objects.filter(bot=bot).count() == 2
    assert failed.applied_config is None
    assert types_for(approval)[-1] == "approvals.approval.failed"


@pytest.mark.parametrize("first", ["approve", "reject", "expire"])
@pytest.mark.parametrize("second", ["approve", "reject"])
def test_a_decided_proposal_cannot_be_decided_again(actors, first, second) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    approval = propose_params(bot)
    if first == "expire":
        services.expire_due(now=T0 + timedelta(hours=2))
    else:
        getattr(services, first)(approval_id=approval.pk, actor=actors["operator"], now=T0)
    approval.refresh_from_db()
    status, versions, events = approval.status, BotConfig.objects.filter(bot=bot).count(), Event.objects.count()
    with pytest.raises(services.AlreadyDecided) as refused:
        getattr(services, second)(approval_id=approval.pk, actor=actors["admin"], now=T0)
    assert refused.value.http_status == 409
    approval.refresh_from_db()
    assert approval.status == status
    assert BotConfig.objects.filter(bot=bot).count() == versions and Event.objects.count() == events


def test_a_proposal_past_its_deadline_cannot_be_approved_before_expiry_runs(actors) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    approval = propose_params(bot)
    with pytest.raises(services.AlreadyDecided) as refused:
        services.approve(approval_id=approval.pk, actor=actors["operator"], now=T0 + timedelta(minutes=60))
    assert refused.value.http_status == 409 and "expired" in refused.value.message
    approval.refresh_from_db()
    assert approval.status == Approval.Status.PENDING  # the expiry task will expire it
    assert active(bot).version == approval.base_config.version


@pytest.mark.parametrize("actor", [Actor("viewer", Role.VIEWER), Actor.advisor("rules"), Actor.advisor("openai:x")])
def test_viewers_and_advisors_cannot_decide(actor) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    approval = propose_params(bot)
    for decide in (services.approve, services.reject):
        with pytest.raises(services.NotAllowed) as refused:
            decide(approval_id=approval.pk, actor=actor, now=T0)
        assert refused.value.http_status == 403
    approval.refresh_from_db()
    assert approval.status == Approval.Status.PENDING


def test_the_gate_refuses_more_pending_proposals_than_the_limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.APPROVALS_MAX_PENDING = 2
    bot = make_bot()
    propose_params(bot, fast=11)
    propose_params(bot, fast=12)
    with pytest.raises(services.TooManyPending) as refused:
        propose_params(bot, fast=13)
    assert refused.value.http_status == 409 and "at most 2" in refused.value.message
    assert Approval.objects.filter(bot=bot).count() == 2
    # another bot has its own allowance
    propose_params(make_bot(), fast=13)


def test_the_same_change_cannot_be_pending_twice(actors) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    first = propose_params(bot, fast=12)
    with pytest.raises(services.DuplicateProposal) as refused:
        propose_params(bot, fast=12)
    assert refused.value.http_status == 409 and f"#{first.pk}" in refused.value.message
    services.reject(approval_id=first.pk, actor=actors["operator"], now=T0)
    assert propose_params(bot, fast=12).status == Approval.Status.PENDING  # a person may ask again


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("strategy_params", {"strategy_params": {"fast": 0}}, "strategy_params.fast"),
        ("strategy_params", {"strategy_params": {"fast": 40}}, "strategy_params.fast"),  # fast ≥ slow
        ("risk_limits", {"risk_limits": {"fraction_of_equity": "5"}}, "risk_limits.fraction_of_equity"),
        ("strategy_switch", {"strategy": "martingale", "strategy_params": {}}, "strategy"),
        ("risk_limits", {"strategy_params": {"fast": 12}}, "change"),  # a field its kind may not touch
    ],
)
def test_an_invalid_proposal_is_refused_whole(kind, change, field) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    with pytest.raises(services.ProposalInvalid) as refused:
        services.propose(bot=bot, kind=kind, change=change, proposer=ADVISOR)
    assert refused.value.http_status == 400 and field in refused.value.field_errors
    assert not Approval.objects.exists()


def test_the_diff_reads_in_effective_values_with_defaults_filled_in() -> None:
    bot = make_bot()  # risk limits stored as {}: every limit at its default
    approval = services.propose(bot=bot, kind="risk_limits", change={"risk_limits": {"fraction_of_equity": "0.050"}},
                                proposer=ADVISOR)
    assert approval.change["diff"] == [{"path": "risk_limits.fraction_of_equity", "from": "0.1", "to": "0.05"}]
    with pytest.raises(services.ProposalInvalid) as refused:
        services.propose(bot=bot, kind="risk_limits", change={"risk_limits": {"max_drawdown_pct": "0.20"}},
                         proposer=ADVISOR)
    assert refused.value.message == "the proposal changes nothing"
