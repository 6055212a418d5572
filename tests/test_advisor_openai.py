"""The OpenAI advisor through the real ``openai`` client against the local fake:
every scripted reply, and in no case anything applied without a human."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from approvals.advisor.services import advisor_run
from approvals.models import Approval
from audit.actors import Actor, Role
from audit.models import Event
from tests.advisor_data import cache_bundled, equity_history, eth_bot
from tests.fakes.openai import INJECTION, MODEL, FakeOpenAI
from trading.models import Bot, BotConfig, Order, SystemState

pytestmark = pytest.mark.django_db
OPERATOR = Actor("operator", Role.OPERATOR)
PROPOSER = f"advisor:openai:{MODEL}"
CHAT = "/v1/chat/completions"


@pytest.fixture
def bot(settings) -> Bot:  # type: ignore[no-untyped-def]
    settings.PAPER_FEE_BPS = Decimal("10")
    settings.PAPER_SLIPPAGE_BPS = Decimal("0")
    SystemState.objects.update_or_create(id=1, defaults={"state": "PAUSED"})
    return eth_bot("sma_cross", {"fast": 10, "slow": 30})


def ask(bot: Bot, **kwargs):  # type: ignore[no-untyped-def]
    return advisor_run(bot=bot, advisor="openai", actor=OPERATOR, **kwargs)


def assert_nothing_applied(bot: Bot) -> None:
    """No new config version, no order, no state change, no decision: only proposals."""
    assert BotConfig.objects.filter(bot=bot).count() == 1
    assert BotConfig.objects.get(bot=bot, is_active=True).strategy_params == {"fast": 10, "slow": 30}
    assert not Order.objects.exists()
    assert SystemState.objects.get(id=1).state == "PAUSED"
    assert not Approval.objects.exclude(status=Approval.Status.PENDING).exists()
    assert not Event.objects.filter(type__startswith="system.state.").exists()
    assert not Event.objects.filter(type__startswith="trading.order.").exists()
    assert not Event.objects.filter(type__in=["approvals.approval.approved", "approvals.approval.applied",
                                              "trading.config.created"]).exists()


def invalid_events() -> list[Event]:
    return list(Event.objects.filter(type="advisor.invalid").order_by("seq"))


def test_a_valid_reply_becomes_a_pending_proposal_with_evidence_and_nothing_more(bot, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    cache_bundled()
    fake_openai.script("valid")
    report = ask(bot)
    assert report.outcome == "proposed" and report.advisor == PROPOSER
    [approval] = report.proposals
    assert approval.proposer == PROPOSER and approval.status == "PENDING"
    assert approval.kind == "strategy_params"
    assert approval.change["set"] == {"strategy_params": {"fast": 12, "slow": 40}}
    assert approval.rationale == "Slower averages cross less often, so fees take less of each trade."
    assert approval.on_expiry == "none"
    assert approval.evidence["available"] is True and approval.evidence["window"]["candles"] == 30 * 96
    assert approval.evidence["advisor_basis"] == {"model": MODEL}
    assert_nothing_applied(bot)

    assert fake_openai.count(CHAT) == 1
    [request] = fake_openai.requests
    assert request["headers"]["authorization"] == "Bearer fake-openai-key"
    body = request["body"]
    assert body["model"] == MODEL
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["max_completion_tokens"] > 0
    run = Event.objects.get(type="advisor.run")
    assert run.actor == "operator" and run.result["advisor"] == PROPOSER
    assert run.result["usage"]["total_tokens"] > 0


def test_the_model_gets_the_config_bounds_metrics_and_a_candle_summary_but_no_secrets(
    bot, fake_openai: FakeOpenAI, settings, users  # type: ignore[no-untyped-def]
) -> None:
    settings.BINANCE_API_KEY = "binance-key-must-not-leak"
    settings.BINANCE_API_SECRET = "binance-secret-must-not-leak"
    settings.TELEGRAM_BOT_TOKEN = "123:telegram-token-must-not-leak"
    cache_bundled()
    equity_history(bot, ["10000", "10100", "9950"], start=datetime.fromisoformat("2025-08-18T00:00:00+00:00"))
    fake_openai.script("empty")
    report = ask(bot)
    assert report.proposals == [] and "the model proposed no change" in report.notes
    sent = json.dumps(fake_openai.bodies())
    for secret in (settings.SECRET_KEY, settings.BINANCE_API_KEY, settings.BINANCE_API_SECRET,
                   settings.TELEGRAM_BOT_TOKEN, settings.OPENAI_API_KEY, "correct-horse-battery", bot.name):
        assert secret not in sent
    payload = json.loads(fake_openai.bodies()[0]["messages"][1]["content"])
    assert payload["active_config"]["strategy"] == "sma_cross"
    assert payload["active_config"]["strategy_params"] == {"fast": 10, "slow": 30}
    assert {p["name"] for p in payload["strategies"]["sma_cross"]["params"]} == {"fast", "slow"}
    assert payload["risk_limits"]["bounds"]["fraction_of_equity"] == ["0.001", "1"]
    assert payload["candles"]["count"] == 30 * 96 and len(payload["candles"]["daily_closes"]) == 30
    assert payload["equity"]["latest"].startswith("9950")
    assert payload["latest_metrics"]["trade_count"] == "1"


@pytest.mark.parametrize(
    ("scenario", "reason", "says"),
    [
        ("malformed", "malformed", "not JSON"),
        ("refusal", "refused", "the model refused"),
        ("truncated", "truncated", "finish_reason length"),
        ("content_filter", "content_filter", "finish_reason content_filter"),
        ("extra_fields", "bad_shape", "Additional properties are not allowed"),
    ],
)
def test_a_reply_that_cannot_be_trusted_whole_is_discarded_and_recorded(
    bot, fake_openai: FakeOpenAI, scenario, reason, says  # type: ignore[no-untyped-def]
) -> None:
    fake_openai.script(scenario)
    report = ask(bot)
    assert report.proposals == [] and report.outcome == "none"
    assert [i.reason for i in report.invalid] == [reason]
    [event] = invalid_events()
    assert event.actor == PROPOSER
    assert event.message.startswith(f"ADVISOR_INVALID: {reason}: ") and says in event.message
    assert event.inputs["code"] == "ADVISOR_INVALID" and event.result == {"discarded": True}
    assert not Approval.objects.exists()
    assert_nothing_applied(bot)
    assert Event.objects.get(type="advisor.run").result["invalid"][0]["reason"] == reason


def test_values_out_of_bounds_are_discarded_by_the_gates_validation(bot, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script("out_of_range")
    report = ask(bot)
    assert report.proposals == []
    first, second = invalid_events()
    assert first.inputs["reason"] == second.inputs["reason"] == "failed_validation"
    assert "risk_limits.fraction_of_equity" in first.inputs["field_errors"]
    assert "risk_limits.max_drawdown_pct" not in first.inputs["field_errors"]  # 0.5 is within bounds
    assert "strategy_params.slow" in second.inputs["field_errors"]
    assert all(e.message.startswith("ADVISOR_INVALID: failed_validation: the proposed configuration is not valid") for e in (first, second))
    assert not Approval.objects.exists()
    assert_nothing_applied(bot)


def test_an_unknown_strategy_is_discarded(bot, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script("unknown_strategy")
    report = ask(bot)
    assert report.proposals == []
    [event] = invalid_events()
    assert event.inputs["reason"] == "unknown_strategy" and "martingale_moon" in event.message
    assert_nothing_applied(bot)


def test_text_that_tries_to_instruct_the_system_is_kept_as_inert_text_and_changes_nothing(
    bot, fake_openai: FakeOpenAI  # type: ignore[no-untyped-def]
) -> None:
    fake_openai.script("injection")
    report = ask(bot)
    # The well-formed part is a proposal like any other: pending, for a human to read.
    [approval] = report.proposals
    assert approval.status == "PENDING" and approval.proposer == PROPOSER
    # kept as text, without the terminal escapes and the direction override
    shown = INJECTION.replace("\x1b[2J\x1b[H", "[2J[H").replace("\u202e", "")
    assert approval.rationale == shown and "\x1b" not in approval.rationale
    assert approval.change["set"] == {"risk_limits": {"fraction_of_equity": 1, "max_position_pct_equity": 1}}
    assert approval.on_expiry == "none"  # the model does not choose what silence does
    assert f"model summary: {shown}" in report.notes
    assert invalid_events() == []
    assert_nothing_applied(bot)
    assert not Event.objects.exclude(type__in=["advisor.run", "approvals.approval.proposed"]).exclude(
        type__startswith="market_data.").exists()


def test_a_server_error_is_retried_by_the_client_and_the_retry_can_succeed(bot, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script("http_500", "valid")
    report = ask(bot)
    assert fake_openai.count(CHAT) == 2
    assert len(report.proposals) == 1


@pytest.mark.parametrize(("scenario", "status"), [("http_500", 500), ("http_429", 429)])
def test_when_every_attempt_fails_the_run_fails_after_the_configured_retries(
    bot, fake_openai: FakeOpenAI, scenario, status  # type: ignore[no-untyped-def]
) -> None:
    fake_openai.script(scenario, scenario, scenario, "valid")
    report = ask(bot)
    assert fake_openai.count(CHAT) == 3  # one attempt and OPENAI_MAX_RETRIES=2 retries
    assert report.outcome == "failed" and f"HTTP {status}" in report.failed
    assert report.proposals == [] and not Approval.objects.exists()
    run = Event.objects.get(type="advisor.run")
    assert run.result["outcome"] == "failed" and f"HTTP {status}" in run.message
    assert_nothing_applied(bot)


def test_a_reply_slower_than_the_timeout_fails_the_run(bot, fake_openai: FakeOpenAI, settings) -> None:  # type: ignore[no-untyped-def]
    settings.OPENAI_TIMEOUT_SECONDS = 1
    settings.OPENAI_MAX_RETRIES = 0
    fake_openai.script("slow")
    report = ask(bot)
    assert report.outcome == "failed" and "timed out (timeout 1 s" in report.failed
    assert fake_openai.count(CHAT) == 1 and not Approval.objects.exists()


def test_a_wrong_key_is_not_retried(bot, fake_openai: FakeOpenAI, settings) -> None:  # type: ignore[no-untyped-def]
    settings.OPENAI_API_KEY = "sk-wrong"
    report = ask(bot)
    assert fake_openai.count(CHAT) == 1
    assert report.outcome == "failed" and "HTTP 401" in report.failed and "sk-wrong" not in report.failed


def test_an_unreachable_api_fails_the_run_cleanly(bot, settings) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.OPENAI_API_KEY = "fake-openai-key"
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.OPENAI_MAX_RETRIES = 0
    report = ask(bot)
    assert report.outcome == "failed" and "could not be reached" in report.failed
    assert_nothing_applied(bot)


def test_without_an_api_key_the_openai_advisor_is_refused_and_the_rules_advisor_serves(
    bot, fake_openai: FakeOpenAI, settings  # type: ignore[no-untyped-def]
) -> None:
    settings.OPENAI_API_KEY = ""
    report = ask(bot)
    assert report.substituted == "the OpenAI advisor needs OPENAI_API_KEY, which is not set"
    assert report.advisor == "advisor:rules" and report.outcome == "none" and report.refused == []
    assert fake_openai.count(CHAT) == 0
    alone = ask(bot, fallback=False)
    assert alone.outcome == "refused" and alone.advisor == ""
    assert alone.refused == ["the OpenAI advisor needs OPENAI_API_KEY, which is not set"]
    assert fake_openai.count(CHAT) == 0
