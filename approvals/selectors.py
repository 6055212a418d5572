"""Reads of the approvals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import F, QuerySet
from django.http import Http404

from approvals.models import Approval
from trading.selectors import chart_points


def approval_list(*, status: str | None = None, bot: int | None = None) -> QuerySet[Approval]:
    approvals = Approval.objects.select_related("base_config", "applied_config")
    if status:
        approvals = approvals.filter(status=status)
    if bot is not None:
        approvals = approvals.filter(bot_id=bot)
    return approvals


def approval_get(*, approval_id: int) -> Approval:
    approval = approval_list().filter(pk=approval_id).first()
    if approval is None:
        raise Http404(f"no approval #{approval_id}")
    return approval


# --- the approvals pages --------------------------------------------------------


def approvals_pending() -> QuerySet[Approval]:
    """Undecided proposals, the soonest to expire first (one query)."""
    return (
        Approval.objects.filter(status=Approval.Status.PENDING)
        .select_related("bot", "base_config")
        .order_by("expires_at", "id")
    )


def approvals_decided() -> QuerySet[Approval]:
    """Decided proposals, the latest decision first, without their evidence."""
    return (
        Approval.objects.exclude(status=Approval.Status.PENDING)
        .select_related("bot", "base_config", "applied_config")
        .defer("evidence")
        .order_by(F("decided_at").desc(nulls_last=True), "-id")
    )


def approval_for_page(*, approval_id: int) -> Approval:
    approval = (
        Approval.objects.select_related("bot", "base_config", "applied_config").filter(pk=approval_id).first()
    )
    if approval is None:
        raise Http404(f"no approval #{approval_id}")
    return approval


@dataclass(frozen=True)
class DiffRow:
    path: str
    old: str  # JSON text; "" when the setting was not there
    new: str


@dataclass(frozen=True)
class MetricRow:
    label: str
    before: str
    after: str
    change: str
    trend: str  # up | down | flat: whether "after" is better, worse or the same


@dataclass(frozen=True)
class Evidence:
    """What the approver reads to judge a proposal: backtests before and after."""

    available: bool
    reason: str  # why there is none, when not available
    window: str  # the candles both backtests ran on, in words
    rows: list[MetricRow]
    chart: dict[str, Any] | None  # {"before": [[t, v], …], "after": […]}, times in seconds


@dataclass(frozen=True)
class ApprovalCard:
    approval: Approval
    diff: list[DiffRow]
    evidence: Evidence
    seconds_left: int
    is_open: bool  # pending and not yet expired: it can still be decided

    @property
    def chart_id(self) -> str:
        return f"evidence-data-{self.approval.pk}"


# Metrics the approver compares, in order; True: higher is better.
EVIDENCE_METRICS = (
    ("total_return", True),
    ("max_drawdown", False),
    ("sharpe", True),
    ("sortino", True),
    ("win_rate", True),
    ("profit_factor", True),
    ("avg_trade", True),
    ("exposure", None),
    ("trade_count", None),
)


def _json_text(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _diff_rows(change: Any) -> list[DiffRow]:
    rows = change.get("diff") if isinstance(change, dict) else None
    if not isinstance(rows, list):
        return []
    return [
        DiffRow(str(row.get("path", "?")), _json_text(row.get("from")), _json_text(row.get("to")))
        for row in rows
        if isinstance(row, dict)
    ]


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _metric_rows(before: dict[str, Any], after: dict[str, Any]) -> list[MetricRow]:
    from trading.backtest_report import METRIC_LABELS, PERCENT, format_metric

    rows = []
    for key, higher_is_better in EVIDENCE_METRICS:
        old, new = before.get(key), after.get(key)
        if old is None and new is None:
            continue
        a, b = _decimal(old), _decimal(new)
        change, trend = "—", "flat"
        if a is not None and b is not None:
            delta = b - a
            if key in PERCENT:
                change = f"{delta * 100:+,.2f} pts"
            elif key == "trade_count":
                change = f"{int(delta):+d}"
            else:
                change = f"{delta:+,.4f}" if key != "avg_trade" else f"{delta:+,.2f}"
            if higher_is_better is not None and delta:
                trend = "up" if (delta > 0) == higher_is_better else "down"
        rows.append(
            MetricRow(
                METRIC_LABELS.get(key, key),
                # Unreadable figures show as "—", like missing ones.
                format_metric(key, a),
                format_metric(key, b),
                change,
                trend,
            )
        )
    return rows


def _evidence(data: Any) -> Evidence:
    if not isinstance(data, dict) or not data:
        return Evidence(False, "No evidence came with this proposal.", "", [], None)
    window = data.get("window") if isinstance(data.get("window"), dict) else {}
    words = ""
    if window.get("candles"):
        words = f"{window.get('candles')} {window.get('symbol', '')} {window.get('timeframe', '')} candles"
        if window.get("start") and window.get("end"):
            words += f" from {str(window['start'])[:16].replace('T', ' ')} to {str(window['end'])[:16].replace('T', ' ')} UTC"
        if window.get("note"):
            words += f" ({window['note']})"
    before = data.get("before") if isinstance(data.get("before"), dict) else {}
    after = data.get("after") if isinstance(data.get("after"), dict) else {}
    if data.get("available") is False or not (before.get("metrics") and after.get("metrics")):
        reason = data.get("reason") or before.get("error") or after.get("error") or "no backtest results"
        return Evidence(False, str(reason), words, [], None)
    before_curve, after_curve = chart_points(before.get("equity_curve")), chart_points(after.get("equity_curve"))
    chart = {"before": before_curve, "after": after_curve} if before_curve and after_curve else None
    return Evidence(True, "", words, _metric_rows(before["metrics"], after["metrics"]), chart)


def approval_card(approval: Approval, now: datetime) -> ApprovalCard:
    """One proposal as the approvals page shows it (no query)."""
    left = int((approval.expires_at - now).total_seconds())
    is_open = approval.status == Approval.Status.PENDING and left > 0
    return ApprovalCard(approval, _diff_rows(approval.change), _evidence(approval.evidence), max(left, 0), is_open)


def decision_outcome(approval: Approval) -> str:
    """What a decision came to, in one sentence (the page and the admin say it alike)."""
    if approval.status == Approval.Status.APPLIED and approval.applied_config is not None:
        return f"Approved and applied: {approval.bot.name} now runs config v{approval.applied_config.version}."
    if approval.status == Approval.Status.FAILED:
        return f"Approved, but it could not be applied: {approval.failure_reason}."
    return f"Rejected: {approval.bot.name}'s configuration stays as it was."
