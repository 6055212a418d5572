"""What an advisor is: a context in, proposals out.

An advisor sees plain values (copies, not database rows) and returns plain
values. It has no handle on orders, the system state or the approval gate:
``advisor_run`` turns what it returns into proposals through
``approvals.services.propose``, which validates each one whole, and a human
decides. Anything else an advisor might "say" is text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from trading.candles import Candles


@dataclass(frozen=True)
class BotView:
    id: int
    name: str
    initial_cash: Decimal
    quote_asset: str


@dataclass(frozen=True)
class EquityPoint:
    taken_at: datetime
    equity: Decimal
    peak_equity: Decimal
    drawdown: Decimal  # from the bot's all-time peak, as the emergency stop measures it


@dataclass(frozen=True)
class AdvisorContext:
    """What an advisor may look at for one bot."""

    bot: BotView
    config_version: int
    # the active configuration: symbol, timeframe, strategy, strategy_params, risk_limits, mode
    values: Mapping[str, Any]
    # when the first cycle under the active version ran (None: none yet)
    config_started_at: datetime | None
    metrics: tuple[Mapping[str, Any], ...]  # recent metrics snapshots, newest first
    equity: tuple[EquityPoint, ...]  # recent equity snapshots, oldest first
    candles: Candles | None  # the evidence window: the bot's recent closed candles
    candles_note: str
    now: datetime

    def equity_under_config(self) -> tuple[EquityPoint, ...]:
        if self.config_started_at is None:
            return ()
        return tuple(p for p in self.equity if p.taken_at >= self.config_started_at)


@dataclass(frozen=True)
class Proposal:
    """A change an advisor would like a human to consider."""

    kind: str  # approvals.models.Approval.Kind
    change: dict[str, Any]  # JSON values only
    rationale: str
    on_expiry: str = "none"
    # the figures behind it (e.g. the grid searched), stored with the evidence
    basis: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InvalidOutput:
    """An advisor output that was discarded (``advisor.invalid``, ADVISOR_INVALID)."""

    reason: str  # malformed, refused, truncated, content_filter, bad_shape, unknown_strategy, failed_validation (the gate's whole-config check)
    message: str
    raw: str = ""  # what was received, kept (truncated) for the audit trail as inert text
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Advice:
    proposals: list[Proposal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was considered; why nothing
    invalid: list[InvalidOutput] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)  # e.g. tokens of a model call


def inert_text(text: str, limit: int) -> str:
    """Untrusted text made safe to store, print and show: no control or format
    characters (terminal escapes, bidirectional overrides) but newlines and tabs,
    and at most ``limit`` characters. It stays text: nothing reads it for meaning."""
    kept = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf"))
    return kept[:limit]


class AdvisorUnavailable(Exception):
    """The advisor could not give advice at all (network, API errors)."""


class Advisor(Protocol):
    # ``rules`` or ``openai:<model>``; its proposals are made as ``advisor:<name>``
    name: str

    def advise(self, context: AdvisorContext) -> Advice: ...
