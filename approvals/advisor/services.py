"""Running an advisor for a bot: the schedule, the page button, the API and
``manage.py advise`` all come through :func:`advisor_run`.

The advisor gets a context of plain values and returns proposals; this service
alone turns them into PENDING approvals through ``approvals.services.propose``
(whole-config validation, evidence, the pending limit) and records what
happened: ``advisor.invalid`` (ADVISOR_INVALID) for each discarded output and
one ``advisor.run`` event per run.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db.models import Min

from approvals import evidence as evidence_service
from approvals.advisor.base import (
    Advice,
    Advisor,
    AdvisorContext,
    AdvisorUnavailable,
    BotView,
    EquityPoint,
    InvalidOutput,
    Proposal,
)
from approvals.models import Approval
from approvals.services import DuplicateProposal, ProposalInvalid, TooManyPending, propose
from audit.actors import Actor, Role
from audit.services import record
from trading import clock
from trading.models import Bot, BotConfig, CycleRun, EquitySnapshot, MetricsSnapshot
from trading.services import config_snapshot
from tradingsite.errors import ServiceError

logger = logging.getLogger(__name__)

ADVISORS = ("rules", "openai")
METRICS_LOOKBACK = 20
EQUITY_LOOKBACK = 10_000
METRIC_FIELDS = ("taken_at", "total_return", "max_drawdown", "sharpe", "sortino", "win_rate",
                 "profit_factor", "avg_trade", "exposure", "trade_count")
TRIGGER_ROLES = (Role.OPERATOR, Role.ADMIN, Role.SYSTEM)


class AdvisorError(ServiceError):
    pass


class UnknownAdvisor(AdvisorError):
    http_status = 400
    code = "unknown_advisor"


class AdvisorNotAllowed(AdvisorError):
    http_status = 403
    code = "role_not_allowed"


@dataclass
class AdviceReport:
    """What one run did: the proposals made, or why none."""

    bot: str
    requested: str  # the advisor asked for: rules | openai
    advisor: str  # the one that served, as ``advisor:<name>`` (empty: none did)
    proposals: list[Approval] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # what the gate or the settings refused
    # why the advisor asked for did not serve and the rules advisor did instead
    substituted: str = ""
    invalid: list[InvalidOutput] = field(default_factory=list)
    failed: str = ""  # the advisor could not run at all
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        if self.proposals:
            return "proposed"
        if self.failed:
            return "failed"
        return "refused" if self.refused and not self.advisor else "none"

    def why_none(self) -> str:
        reasons = [*self.refused, *(f"discarded ({i.reason}): {i.message}" for i in self.invalid), *self.notes]
        if self.failed:
            reasons.insert(0, self.failed)
        return "; ".join(reasons) or "nothing to propose"

    def as_dict(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "requested": self.requested,
            "advisor": self.advisor,
            "outcome": self.outcome,
            "proposals": [a.pk for a in self.proposals],
            "notes": self.notes,
            "refused": self.refused,
            "substituted": self.substituted,
            "invalid": [{"reason": i.reason, "message": i.message} for i in self.invalid],
            "failed": self.failed,
            "usage": self.usage,
        }


def openai_available() -> bool:
    return bool(settings.OPENAI_API_KEY)


def make_advisor(name: str) -> Advisor:
    if name == "rules":
        from approvals.advisor.rules import RulesAdvisor

        return RulesAdvisor()
    if name == "openai":
        from approvals.advisor.openai_advisor import OpenAIAdvisor

        return OpenAIAdvisor.from_settings()
    raise UnknownAdvisor(f"unknown advisor {name!r}: use one of {', '.join(ADVISORS)}")


def advisor_context(*, bot: Bot, config: BotConfig, now: datetime) -> AdvisorContext:
    """Plain copies of what an advisor may look at (no rows, nothing to write through)."""
    return _context(bot=bot, config=config, now=now)[0]


def _context(
    *, bot: Bot, config: BotConfig, now: datetime
) -> tuple[AdvisorContext, evidence_service.EvidenceWindow]:
    metrics = tuple(
        MetricsSnapshot.objects.filter(bot=bot).order_by("-taken_at", "-id").values(*METRIC_FIELDS)[:METRICS_LOOKBACK]
    )
    rows = list(
        EquitySnapshot.objects.filter(bot=bot).order_by("-taken_at", "-id")
        .values_list("taken_at", "equity", "peak_equity", "drawdown")[:EQUITY_LOOKBACK]
    )
    rows.reverse()
    # Cycle times, not row creation times: the demo's replay clock runs in the past.
    started = CycleRun.objects.filter(bot=bot, config=config, status=CycleRun.Status.DONE).aggregate(
        first=Min("started_at")
    )["first"]
    # The advisor looks at the very candles its proposals' evidence is built on.
    window = evidence_service.window_for(symbol=config.symbol, timeframe=config.timeframe, now=now)
    context = AdvisorContext(
        bot=BotView(id=bot.pk, name=bot.name, initial_cash=bot.initial_cash, quote_asset=bot.quote_asset),
        config_version=config.version,
        values=copy.deepcopy(config_snapshot(config)),
        config_started_at=started,
        metrics=metrics,
        equity=tuple(EquityPoint(*row) for row in rows),
        candles=window.candles,
        candles_note=window.note,
        now=now,
    )
    return context, window


def advisor_run(
    *, bot: Bot, advisor: str, actor: Actor, now: datetime | None = None, fallback: bool = True
) -> AdviceReport:
    """Ask ``advisor`` (``rules`` or ``openai``) about ``bot`` and propose what it advises.

    ``actor`` is who asked (an operator, the scheduler); the proposals are the
    advisor's (``advisor:<name>``). Without ``OPENAI_API_KEY`` the OpenAI advisor
    is refused and, with ``fallback``, the rules advisor serves instead. Nothing
    here applies a change: proposals wait for a human.

    ``now`` is the market's now (the clock's, which the demo runs in the past):
    it picks the candles and equity looked at. Proposals are stamped and expire
    in real time, like every other approval.
    """
    if actor.role not in TRIGGER_ROLES:
        raise AdvisorNotAllowed(f"{actor.role.label} may not run an advisor: needs operator or admin")
    if advisor not in ADVISORS:
        raise UnknownAdvisor(f"unknown advisor {advisor!r}: use one of {', '.join(ADVISORS)}")
    now = now or clock.now()
    report = AdviceReport(bot=bot.name, requested=advisor, advisor="")
    serving = advisor
    if advisor == "openai" and not openai_available():
        missing = "the OpenAI advisor needs OPENAI_API_KEY, which is not set"
        if not fallback:
            report.refused.append(missing)
            return _recorded(report, actor, bot)
        report.substituted = missing
        serving = "rules"
    config = BotConfig.objects.filter(bot=bot, is_active=True).first()
    if config is None:
        report.refused.append(f"{bot.name} has no active configuration")
        return _recorded(report, actor, bot)
    pending = Approval.objects.filter(bot=bot, status=Approval.Status.PENDING).count()
    if pending >= settings.APPROVALS_MAX_PENDING:
        # Said before asking anyone: the gate would refuse whatever came back.
        report.refused.append(
            f"{bot.name} already has {pending} pending proposals (at most {settings.APPROVALS_MAX_PENDING}): "
            "decide those first"
        )
        return _recorded(report, actor, bot, config)
    instance = make_advisor(serving)
    report.advisor = f"advisor:{instance.name}"
    proposer = Actor.advisor(instance.name)
    context, window = _context(bot=bot, config=config, now=now)
    try:
        advice = instance.advise(context)
    except AdvisorUnavailable as exc:
        report.failed = str(exc)
        return _recorded(report, actor, bot, config, context)
    report.notes.extend(advice.notes)
    report.usage = advice.usage
    for output in advice.invalid:
        _invalid(report, output, proposer, bot)
    for proposal in advice.proposals:
        if _rejected_before(bot, config, proposal):
            report.notes.append(f"not proposing {_describe(proposal)} again: rejected on config v{config.version}")
            continue
        try:
            approval = propose(
                bot=bot, kind=proposal.kind, change=proposal.change, proposer=proposer,
                rationale=proposal.rationale, on_expiry=proposal.on_expiry,
                evidence_builder=partial(_evidence, window=window, basis=proposal.basis),
            )
        except ProposalInvalid as exc:
            _invalid(report, InvalidOutput(
                "failed_validation", exc.message,
                raw=str(proposal.change)[:4000], detail={"field_errors": exc.field_errors},
            ), proposer, bot)
            continue
        except DuplicateProposal as exc:
            report.notes.append(exc.message)
            continue
        except TooManyPending as exc:
            report.refused.append(exc.message)
            break
        report.proposals.append(approval)
    return _recorded(report, actor, bot, config, context)


def _evidence(bot: Bot, before: dict[str, Any], after: dict[str, Any], *,
              window: evidence_service.EvidenceWindow, basis: dict[str, Any]) -> dict[str, Any]:
    built = evidence_service.build(bot, before, after, window=window)
    if basis:
        built["advisor_basis"] = basis
    return built


def _describe(proposal: Proposal) -> str:
    return f"{proposal.kind} {proposal.change}"


def _rejected_before(bot: Bot, config: BotConfig, proposal: Proposal) -> bool:
    """A human already said no to exactly this change on this very version."""
    from audit.services import to_json_value

    wanted = to_json_value(proposal.change)
    rejected = Approval.objects.filter(
        bot=bot, base_config=config, kind=proposal.kind, status=Approval.Status.REJECTED
    ).values_list("change", flat=True)
    return any((change or {}).get("set") == wanted for change in rejected)


def _invalid(report: AdviceReport, output: InvalidOutput, proposer: Actor, bot: Bot) -> None:
    report.invalid.append(output)
    record(
        "advisor.invalid",
        proposer,
        f"ADVISOR_INVALID: {output.reason}: {output.message}",
        inputs={"code": "ADVISOR_INVALID", "reason": output.reason, "raw": output.raw, **output.detail},
        result={"discarded": True},
        bot=bot,
    )


def _recorded(
    report: AdviceReport, actor: Actor, bot: Bot, config: BotConfig | None = None,
    context: AdvisorContext | None = None,
) -> AdviceReport:
    window = None
    if context is not None and context.candles is not None:
        window = {"candles": len(context.candles), "note": context.candles_note}
    message = (
        f"{report.advisor or 'advisor:' + report.requested} on {bot.name}: "
        + (f"proposed #{', #'.join(str(a.pk) for a in report.proposals)}" if report.proposals
           else f"no proposal ({report.why_none()})")
    )
    record(
        "advisor.run",
        actor,
        message[:2000],
        inputs={"requested": report.requested, "advisor": report.advisor,
                "config_version": config.version if config else None, "window": window},
        result=report.as_dict(),
        bot=bot,
    )
    return report


def advisors_run_scheduled(*, now: datetime | None = None) -> list[AdviceReport]:
    """The beat's run: the rules advisor for every enabled bot with a configuration,
    and the OpenAI advisor too when ``ADVISOR_SCHEDULE_OPENAI`` is on (no fallback:
    the rules advisor has already served)."""
    scheduler = Actor.scheduler()
    names = ["rules"] + (["openai"] if settings.ADVISOR_SCHEDULE_OPENAI else [])
    reports: list[AdviceReport] = []
    bots = Bot.objects.filter(enabled=True, configs__is_active=True).distinct().order_by("name")
    for bot in bots:
        for name in names:
            try:
                reports.append(advisor_run(bot=bot, advisor=name, actor=scheduler, now=now, fallback=False))
            except Exception as exc:  # one bot's trouble must not starve the others
                logger.exception("advisor %s failed on %s", name, bot.name)
                record("advisor.run", scheduler, f"advisor:{name} on {bot.name} failed: {type(exc).__name__}",
                       inputs={"requested": name}, result={"outcome": "failed", "error": type(exc).__name__},
                       bot=bot)
    return reports


__all__ = ["ADVISORS", "Advice", "AdviceReport", "AdvisorError", "AdvisorNotAllowed", "UnknownAdvisor",
           "advisor_context", "advisor_run", "advisors_run_scheduled", "make_advisor", "openai_available"]
