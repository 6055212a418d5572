"""Backtest a strategy over cached candles or a CSV file, print a summary and
write trades.csv, equity.csv, metrics.json, report.html and report.png."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading import timeframes
from trading.backtest import BacktestSettings, run
from trading.backtest_data import BacktestDataError, load_candles, market_rules_for
from trading.backtest_report import summary_lines, write_report


def parse_time(value: str, flag: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{flag} {value!r} is not a date or ISO time (e.g. 2025-06-01 or 2025-06-01T12:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_decimal(value: str, flag: str, minimum: Decimal = Decimal("0")) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"{flag} {value!r} is not a number") from None
    if not number.is_finite() or number < minimum:
        raise CommandError(f"{flag} must be a number ≥ {minimum}, got {value}")
    return number


def parse_sizing(value: str) -> dict[str, str]:
    mode, sep, amount = value.partition(":")
    if mode == "fixed_quote" and sep:
        return {"sizing_mode": "fixed_quote", "fixed_quote": str(parse_decimal(amount, "--sizing"))}
    if mode == "fraction" and sep:
        return {"sizing_mode": "fraction", "fraction_of_equity": str(parse_decimal(amount, "--sizing"))}
    raise CommandError(f"--sizing {value!r} must be fixed_quote:AMOUNT or fraction:FRACTION")


def parse_object(value: str, flag: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{flag} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(data, dict):
        raise CommandError(f"{flag} must be a JSON object such as '{{\"fast\": 10}}'")
    return data


def field_errors(exc: Exception) -> str:
    errors = getattr(exc, "field_errors", None)
    if isinstance(errors, dict) and errors:
        return "; ".join(f"{k}: {v}" for k, v in errors.items())
    return str(exc)


class Command(BaseCommand):
    help = "Backtest a strategy on historical candles (the live strategy, risk and fill code)."
    # Startup time is part of what operators wait for; the checks add nothing here.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", required=True)
        parser.add_argument("--params", default="{}", help="strategy parameters as a JSON object")
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--timeframe", required=True)
        parser.add_argument("--from", dest="start", help="first candle (date or ISO time, UTC)")
        parser.add_argument("--to", dest="end", help="last candle (date or ISO time, UTC)")
        parser.add_argument("--data", help="read candles from this CSV (.csv or .csv.gz) instead of the cache")
        parser.add_argument("--fee-bps", default="10", help="fee per side in basis points (default 10 = 0.1 %%)")
        parser.add_argument("--slippage-bps", default="0")
        parser.add_argument("--sizing", help="fixed_quote:AMOUNT or fraction:FRACTION (default: the limits' sizing)")
        parser.add_argument("--limits", default="{}", help="risk limits as a JSON object (defaults otherwise)")
        parser.add_argument("--cash", default="10000", help="starting cash in the quote asset")
        parser.add_argument("--out", help="folder for the report files")

    def handle(self, *args: Any, **options: Any) -> None:
        from risk.limits import RiskLimits
        from trading.strategies.registry import UnknownStrategy, get_strategy, list_strategies

        symbol = options["symbol"].upper()
        timeframe = options["timeframe"]
        if timeframe not in timeframes.TIMEFRAME_SECONDS:
            raise CommandError(f"--timeframe {timeframe!r} is not one of {', '.join(timeframes.TIMEFRAME_SECONDS)}")
        try:
            strategy = get_strategy(options["strategy"])
        except UnknownStrategy:
            names = ", ".join(s.name for s in list_strategies())
            raise CommandError(f"unknown strategy {options['strategy']!r}: choose from {names}") from None
        params = parse_object(options["params"], "--params")
        try:
            params = strategy.validate(params)
        except Exception as exc:
            raise CommandError(f"bad --params for {strategy.name}: {field_errors(exc)}") from None
        limits_data = parse_object(options["limits"], "--limits")
        if options["sizing"]:
            limits_data.update(parse_sizing(options["sizing"]))
        try:
            limits = RiskLimits.from_dict(limits_data)
        except Exception as exc:
            raise CommandError(f"bad risk limits: {field_errors(exc)}") from None
        start = parse_time(options["start"], "--from") if options["start"] else None
        end = parse_time(options["end"], "--to") if options["end"] else None
        if start and end and end < start:
            raise CommandError("--to is before --from")
        fee = parse_decimal(options["fee_bps"], "--fee-bps")
        slippage = parse_decimal(options["slippage_bps"], "--slippage-bps")
        cash = parse_decimal(options["cash"], "--cash", Decimal("0.00000001"))

        try:
            candles = load_candles(symbol, timeframe, data=options["data"], start=start, end=end)
        except BacktestDataError as exc:
            raise CommandError(str(exc)) from None
        if len(candles) < 2:
            raise CommandError(f"not enough {symbol} {timeframe} candles in that range ({len(candles)})")
        rules, note = market_rules_for(symbol)
        if note:
            self.stderr.write(note)

        settings = BacktestSettings(
            strategy=strategy.name, params=params, limits=limits, rules=rules,
            initial_cash=cash, fee_bps=fee, slippage_bps=slippage,
        )
        bar = None
        if sys.stderr.isatty() and len(candles) > 50_000:
            from tqdm import tqdm

            bar = tqdm(total=100, unit="%", desc="backtest", file=sys.stderr, leave=False)

        def progress(fraction: float) -> None:
            if bar is not None:
                bar.update(int(fraction * 100) - bar.n)

        result = run(candles, settings, progress=progress)
        if bar is not None:
            bar.close()
        for line in summary_lines(result):
            self.stdout.write(line)
        if options["out"]:
            paths = write_report(result, Path(options["out"]), candles.close)
            self.stdout.write("wrote " + ", ".join(str(p) for p in paths))
