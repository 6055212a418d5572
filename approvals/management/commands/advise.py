"""Ask an advisor about a bot now and print the proposals it made, or why none.

Proposals wait for a human decision (web, API, Telegram); nothing is applied here.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from approvals.advisor.services import ADVISORS, advisor_run
from approvals.models import Approval
from audit.actors import Actor, Role
from trading.management.lookup import bot_named


class Command(BaseCommand):
    help = "Run the rules or the OpenAI advisor for one bot and print its proposals (or why none)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bot", required=True, help="the bot's name")
        parser.add_argument("--advisor", default="rules", help=f"one of {', '.join(ADVISORS)} (default rules)")

    def handle(self, *args: Any, **options: Any) -> None:
        name, advisor = options["bot"], options["advisor"]
        if advisor not in ADVISORS:
            raise CommandError(f"--advisor {advisor!r}: use one of {', '.join(ADVISORS)}")
        bot = bot_named(name)
        report = advisor_run(bot=bot, advisor=advisor, actor=Actor(name="command:advise", role=Role.SYSTEM))
        if report.outcome == "refused":
            raise CommandError(f"no proposal: {report.why_none()}")
        if report.failed:
            raise CommandError(f"{report.advisor} failed: {report.failed}")
        if report.substituted:
            self.stdout.write(f"refused: {report.substituted}; the rules advisor serves instead")
        for line in report.refused:
            self.stdout.write(f"refused: {line}")
        if not report.proposals:
            self.stdout.write(f"{report.advisor} on {report.bot}: no proposal: {report.why_none()}")
            return
        for approval in report.proposals:
            self._proposal(approval)
        for output in report.invalid:
            self.stdout.write(f"discarded ({output.reason}): {output.message}")

    def _proposal(self, approval: Approval) -> None:
        self.stdout.write(
            f"proposal #{approval.pk} by {approval.proposer} for {approval.bot.name} "
            f"(config v{approval.base_config.version}): {approval.kind}, pending until "
            f"{approval.expires_at:%Y-%m-%d %H:%M} UTC, on expiry: {approval.on_expiry}"
        )
        for change in approval.change["diff"]:
            self.stdout.write(f"  {change['path']}: {change['from']} → {change['to']}")
        self.stdout.write(f"  why: {approval.rationale}")
        self.stdout.write(f"  evidence: {evidence_line(approval.evidence)}")


def evidence_line(evidence: dict[str, Any]) -> str:
    window = evidence.get("window") or {}
    if not evidence.get("available"):
        return f"none ({evidence.get('reason') or 'no backtest'})"
    before, after = evidence["before"]["metrics"], evidence["after"]["metrics"]

    def pct(value: str | None) -> str:
        return "n/a" if value is None else f"{float(value) * 100:.2f}%"

    return (
        f"{window.get('candles', 0):,} {window.get('symbol')} {window.get('timeframe')} candles "
        f"({window.get('days')} days to {str(window.get('end'))[:16]}): return {pct(before['total_return'])} → "
        f"{pct(after['total_return'])}, max drawdown {pct(before['max_drawdown'])} → "
        f"{pct(after['max_drawdown'])}, trades {evidence['before']['trade_count']} → "
        f"{evidence['after']['trade_count']}"
    )
