"""The approval gate: proposals that change a bot's configuration only after a
human says yes.

``PENDING → APPROVED → APPLIED | FAILED`` and ``PENDING → REJECTED | EXPIRED``.
Every step is an event. A decision locks the proposal row, so a decision and
an expiry racing for the same proposal end with exactly one outcome.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from approvals.models import Approval
from audit.actors import Actor, Role
from audit.services import record, to_json_value
from trading import state
from trading.models import Bot, BotConfig
from trading.services import config_snapshot
from tradingsite.errors import ServiceError

Status = Approval.Status
Kind = Approval.Kind
ALLOWED_KEYS = {
    Kind.STRATEGY_PARAMS: {"strategy_params"},
    Kind.STRATEGY_SWITCH: {"strategy", "strategy_params"},
    Kind.RISK_LIMITS: {"risk_limits"},
}

# Evidence builder: (bot, base config values, proposed values) → evidence dict.
# The default is ``approvals.evidence.build`` (backtests before and after).
EvidenceBuilder = Callable[[Bot, dict[str, Any], dict[str, Any]], dict[str, Any]]


class ApprovalError(ServiceError):
    pass


class ProposalInvalid(ApprovalError):
    http_status = 400
    code = "invalid_proposal"


class TooManyPending(ApprovalError):
    http_status = 409
    code = "too_many_pending"


class DuplicateProposal(ApprovalError):
    http_status = 409
    code = "duplicate_proposal"


class AlreadyDecided(ApprovalError):
    http_status = 409
    code = "already_decided"


class NotAllowed(ApprovalError):
    http_status = 403
    code = "role_not_allowed"


class ApprovalNotFound(ApprovalError):
    http_status = 404
    code = "not_found"


def _validate_values(values: dict[str, Any]) -> dict[str, Any]:
    """Full config values checked against the strategy's schema and the limits' bounds."""
    from risk.limits import RiskLimits
    from trading.strategies.registry import UnknownStrategy, get_strategy

    errors: dict[str, str] = {}
    clean = dict(values)
    try:
        strategy = get_strategy(values["strategy"])
    except UnknownStrategy as exc:
        errors["strategy"] = str(exc)
    else:
        try:
            clean["strategy_params"] = strategy.validate(values.get("strategy_params") or {})
        except ValueError as exc:
            for key, message in getattr(exc, "field_errors", {"": str(exc)}).items():
                errors[f"strategy_params.{key}".rstrip(".")] = message
    try:
        RiskLimits.from_dict(values.get("risk_limits") or {})
    except ValueError as exc:
        for key, message in getattr(exc, "field_errors", {"": str(exc)}).items():
            errors[f"risk_limits.{key}".rstrip(".")] = message
    if errors:
        raise ProposalInvalid("the proposed configuration is not valid", field_errors=errors)
    return clean


def structured_diff(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """``[{"path": "strategy_params.fast", "from": 10, "to": 12}, …]`` for every leaf that differs."""
    changes: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after)):
        path = f"{prefix}{key}"
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(structured_diff(old, new, f"{path}."))
        elif old != new:
            changes.append({"path": path, "from": old, "to": new})
    return changes


def effective_values(values: dict[str, Any]) -> dict[str, Any]:
    """The configuration as it acts, every parameter and limit with its default
    filled in, so that a diff reads "0.1 → 0.05" rather than "None → 0.05"."""
    from dataclasses import fields
    from decimal import Decimal

    from risk.limits import RiskLimits
    from trading.strategies.registry import get_strategy

    try:
        params = get_strategy(values["strategy"]).validate(values.get("strategy_params") or {})
        limits = RiskLimits.from_dict(values.get("risk_limits") or {})
    except (KeyError, ValueError):  # not valid as stored: show it as stored
        return values
    return {
        **values,
        "strategy_params": params,
        "risk_limits": {
            f.name: f"{value.normalize():f}" if isinstance(value := getattr(limits, f.name), Decimal) else value
            for f in fields(limits)
        },
    }


def proposed_values(base: BotConfig, kind: str, change: dict[str, Any]) -> dict[str, Any]:
    """The whole configuration that approving ``change`` would produce."""
    unknown = set(change) - ALLOWED_KEYS.get(kind, set())
    if kind not in ALLOWED_KEYS:
        raise ProposalInvalid(f"unknown kind {kind!r}", field_errors={"kind": "unknown kind"})
    if unknown or not change:
        raise ProposalInvalid(
            f"a {kind} proposal may change only {', '.join(sorted(ALLOWED_KEYS[kind]))}",
            field_errors={"change": f"may contain only {', '.join(sorted(ALLOWED_KEYS[kind]))}"},
        )
    values = copy.deepcopy(config_snapshot(base))
    for key, value in change.items():
        if key in ("strategy_params", "risk_limits"):
            if not isinstance(value, dict):
                raise ProposalInvalid(f"{key} must be an object", field_errors={key: "must be an object"})
            if kind == Kind.STRATEGY_SWITCH and key == "strategy_params":
                values[key] = dict(value)  # a new strategy starts from its own params
            else:
                values[key] = {**(values.get(key) or {}), **value}
        else:
            values[key] = value
    return _validate_values(values)


def propose(
    *,
    bot: Bot,
    kind: str,
    change: dict[str, Any],
    proposer: Actor,
    rationale: str = "",
    evidence: dict[str, Any] | None = None,
    evidence_builder: EvidenceBuilder | None = None,
    ttl_minutes: int | None = None,
    on_expiry: str = Approval.OnExpiry.NONE,
    now: datetime | None = None,
) -> Approval:
    """Record a proposal against the bot's active configuration.

    The proposed configuration is validated whole; evidence (before/after
    backtests, :func:`approvals.evidence.build` unless another builder is
    given) is built unless given. At most ``APPROVALS_MAX_PENDING`` per bot, and
    never the same change twice pending.
    """
    if on_expiry not in Approval.OnExpiry.values:
        raise ProposalInvalid("unknown on_expiry policy", field_errors={"on_expiry": "must be none, pause or emergency_stop"})
    ttl = ttl_minutes if ttl_minutes is not None else settings.APPROVAL_TTL_MINUTES
    if not 1 <= ttl <= 7 * 24 * 60:
        raise ProposalInvalid("the time to live must be 1 minute to 7 days", field_errors={"ttl_minutes": "1 to 10080"})
    base = BotConfig.objects.filter(bot=bot, is_active=True).first()
    if base is None:
        raise ProposalInvalid(f"bot {bot.name} has no active configuration")
    after = proposed_values(base, kind, change)
    before = config_snapshot(base)
    diff = structured_diff(effective_values(before), effective_values(after))
    if not diff:
        raise ProposalInvalid("the proposal changes nothing", field_errors={"change": "changes nothing"})
    # Checked before the backtests too, so a full queue answers at once; the
    # check that counts is the one under the bot's lock below.
    _check_room(bot, kind, change)
    if evidence is None:
        if evidence_builder is None:
            from approvals import evidence as default_evidence

            evidence_builder = default_evidence.build
        evidence = evidence_builder(bot, before, after)
    now = now or timezone.now()
    with transaction.atomic():
        Bot.objects.select_for_update().get(pk=bot.pk)
        _check_room(bot, kind, change)
        approval = Approval.objects.create(
            kind=kind, bot=bot, base_config=base, change={"set": change, "diff": diff},
            rationale=rationale, evidence=evidence or {}, proposer=proposer.name,
            created_at=now, expires_at=now + timedelta(minutes=ttl), on_expiry=on_expiry,
        )
        record(
            "approvals.approval.proposed",
            proposer,
            f"proposal #{approval.pk} for {bot.name}: {kind}",
            inputs={"approval_id": approval.pk, "kind": kind, "base_version": base.version,
                    "change": change, "rationale": rationale, "expires_at": approval.expires_at,
                    "on_expiry": on_expiry},
            result={"diff": diff},
            bot=bot,
        )
    return approval


def _check_room(bot: Bot, kind: str, change: dict[str, Any]) -> None:
    pending = list(Approval.objects.filter(bot=bot, status=Status.PENDING).values_list("pk", "kind", "change"))
    if len(pending) >= settings.APPROVALS_MAX_PENDING:
        raise TooManyPending(
            f"{bot.name} already has {len(pending)} pending proposals (at most {settings.APPROVALS_MAX_PENDING}): "
            "decide those first"
        )
    # Compared as stored: the pending rows hold the change as JSON.
    wanted = to_json_value(change)
    for pk, pending_kind, pending_change in pending:
        if pending_kind == kind and (pending_change or {}).get("set") == wanted:
            raise DuplicateProposal(f"the same change is already pending as proposal #{pk}")


def _require_decider(actor: Actor) -> None:
    if actor.role not in (Role.OPERATOR, Role.ADMIN):
        raise NotAllowed(f"{actor.role.label} may not decide proposals: needs operator or admin")


def _locked(approval_id: int) -> Approval:
    try:
        return Approval.objects.select_for_update().select_related("bot", "base_config").get(pk=approval_id)
    except Approval.DoesNotExist:
        raise ApprovalNotFound(f"no proposal #{approval_id}") from None


def _user(actor: Actor) -> User | None:
    return User.objects.filter(pk=actor.user_id).first() if actor.user_id else None


def approve(*, approval_id: int, actor: Actor, note: str = "", now: datetime | None = None) -> Approval:
    """Approve and apply at once: the change becomes a new config version, or the
    proposal FAILS (with the reason) if the bot's configuration moved on."""
    _require_decider(actor)
    now = now or timezone.now()
    with transaction.atomic():
        approval = _locked(approval_id)
        _check_pending(approval, now)
        approval.status = Status.APPROVED
        approval.decided_by = _user(actor)
        approval.decider_name = actor.name
        approval.decided_at = now
        approval.decision_note = note
        approval.save()
        record("approvals.approval.approved", actor, f"proposal #{approval.pk} approved" + (f": {note}" if note else ""),
               inputs={"approval_id": approval.pk, "note": note}, result={"status": Status.APPROVED},
               bot=approval.bot)
        _apply(approval, actor)
    return approval


def _apply(approval: Approval, actor: Actor) -> None:
    from trading.services import bot_config_create

    active = BotConfig.objects.filter(bot=approval.bot, is_active=True).first()
    if active is None or active.pk != approval.base_config_id:
        approval.status = Status.FAILED
        moved = f"v{active.version}" if active else "no active version"
        approval.failure_reason = (
            f"the configuration moved on since this proposal (based on v{approval.base_config.version}, "
            f"now {moved}); nothing was changed"
        )
        approval.save(update_fields=["status", "failure_reason"])
        record("approvals.approval.failed", actor, approval.failure_reason,
               inputs={"approval_id": approval.pk}, result={"status": Status.FAILED}, bot=approval.bot)
        return
    try:
        values = proposed_values(approval.base_config, approval.kind, approval.change["set"])
    except ProposalInvalid as exc:
        approval.status = Status.FAILED
        approval.failure_reason = f"no longer valid: {exc.message}"
        approval.save(update_fields=["status", "failure_reason"])
        record("approvals.approval.failed", actor, approval.failure_reason,
               inputs={"approval_id": approval.pk}, result={"field_errors": exc.field_errors}, bot=approval.bot)
        return
    config = bot_config_create(
        bot=approval.bot, actor=actor, source=BotConfig.Source.APPROVAL, author=_user(actor),
        note=f"approved proposal #{approval.pk} by {approval.proposer}", **values,
    )
    approval.status = Status.APPLIED
    approval.applied_config = config
    approval.save(update_fields=["status", "applied_config"])
    record("approvals.approval.applied", actor, f"proposal #{approval.pk} applied as v{config.version}",
           inputs={"approval_id": approval.pk}, result={"status": Status.APPLIED, "version": config.version},
           bot=approval.bot)


def _check_pending(approval: Approval, now: datetime) -> None:
    if approval.status != Status.PENDING:
        raise AlreadyDecided(f"proposal #{approval.pk} is already {approval.status.lower()}")
    if approval.expires_at <= now:
        raise AlreadyDecided(f"proposal #{approval.pk} expired at {approval.expires_at:%Y-%m-%d %H:%M} UTC")


def reject(*, approval_id: int, actor: Actor, note: str = "", now: datetime | None = None) -> Approval:
    _require_decider(actor)
    now = now or timezone.now()
    with transaction.atomic():
        approval = _locked(approval_id)
        _check_pending(approval, now)
        approval.status = Status.REJECTED
        approval.decided_by = _user(actor)
        approval.decider_name = actor.name
        approval.decided_at = now
        approval.decision_note = note
        approval.save()
        record("approvals.approval.rejected", actor, f"proposal #{approval.pk} rejected" + (f": {note}" if note else ""),
               inputs={"approval_id": approval.pk, "note": note}, result={"status": Status.REJECTED},
               bot=approval.bot)
    return approval


def expire_due(*, now: datetime | None = None) -> list[Approval]:
    """Expire every PENDING proposal whose time is up and apply its on-expiry policy."""
    now = now or timezone.now()
    expired: list[Approval] = []
    system = Actor.system()
    for approval_id in Approval.objects.filter(status=Status.PENDING, expires_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            # Conditional update: if a decision holds (or took) the row, this matches nothing.
            claimed = Approval.objects.filter(pk=approval_id, status=Status.PENDING, expires_at__lte=now).update(
                status=Status.EXPIRED, decided_at=now, decider_name="system"
            )
            if claimed != 1:
                continue
            approval = Approval.objects.select_related("bot").get(pk=approval_id)
            record("approvals.approval.expired", system,
                   f"proposal #{approval.pk} expired undecided (policy: {approval.on_expiry})",
                   inputs={"approval_id": approval.pk, "expires_at": approval.expires_at,
                           "on_expiry": approval.on_expiry},
                   result={"status": Status.EXPIRED}, bot=approval.bot)
        _apply_expiry_policy(approval, system)
        expired.append(approval)
    return expired


def _apply_expiry_policy(approval: Approval, actor: Actor) -> None:
    """Pause or stop the system as the proposal asked; through the state service."""
    target = {
        Approval.OnExpiry.PAUSE: state.State.PAUSED,
        Approval.OnExpiry.EMERGENCY_STOP: state.State.EMERGENCY_STOP,
    }.get(approval.on_expiry)
    if target is None:
        return
    current = state.current().state
    if current == target or (target == state.State.PAUSED and current == state.State.EMERGENCY_STOP):
        return  # already at least as safe
    state.transition(
        target=target, actor=actor,
        reason=f"proposal #{approval.pk} for {approval.bot.name} expired undecided (policy {approval.on_expiry})",
    )
