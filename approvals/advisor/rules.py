"""The rules advisor (``advisor:rules``): deterministic, offline, explainable.

Two rules, the safety one first:

1. **Drawdown.** When equity fell, under the active configuration, by at least
   half of the bot's ``max_drawdown_pct`` (the level of the emergency stop),
   propose halving the position sizing (fraction of equity, or the fixed quote
   amount; the risk per trade with ATR scaling) and the position cap. On expiry
   nothing happens: an unanswered tightening is not a reason to stop.
2. **Grid search.** Otherwise, backtest a small grid of the strategy's
   parameters around the current ones on the evidence window and propose the
   best only if it is clearly better than the current parameters there: at
   least ``MIN_RETURN_GAIN`` more total return, a drawdown no more than
   ``MAX_EXTRA_DRAWDOWN`` deeper, and at least ``MIN_TRADES`` trades.

The grid is in-sample: the rationale says so, and the approver sees the
before/after backtests.
"""

from __future__ import annotations

import itertools
from decimal import ROUND_DOWN, Decimal
from typing import Any

from approvals.advisor.base import Advice, AdvisorContext, Proposal
from approvals.evidence import backtest_values
from risk.limits import LIMIT_BOUNDS, RiskLimits
from trading.strategies.base import ParamError, ParamSpec, Strategy
from trading.strategies.registry import UnknownStrategy, get_strategy

DRAWDOWN_TRIGGER_SHARE = Decimal("0.5")
SHRINK = Decimal("0.5")
MIN_RETURN_GAIN = Decimal("0.01")  # one percentage point of the initial cash
MAX_EXTRA_DRAWDOWN = Decimal("0.01")
MIN_TRADES = 3
MIN_CANDLES = 200
INT_FACTORS = (0.5, 1.0, 2.0)
FLOAT_FACTORS = (0.8, 1.0, 1.25)
# Above this many combinations the grid varies one parameter at a time.
MAX_FULL_GRID = 16


def pct(value: Decimal | float | str) -> str:
    return f"{Decimal(str(value)) * 100:.2f}%"


def points(value: Decimal) -> str:
    return f"{value * 100:+.2f} points"


class RulesAdvisor:
    name = "rules"

    def advise(self, context: AdvisorContext) -> Advice:
        advice = Advice()
        tightening = self._after_drawdown(context, advice)
        if tightening is not None:
            advice.proposals.append(tightening)
            advice.notes.append("grid search skipped: the risk proposal comes first")
            return advice
        tuned = self._grid_search(context, advice)
        if tuned is not None:
            advice.proposals.append(tuned)
        return advice

    # --- rule 1 -------------------------------------------------------------
    def _after_drawdown(self, context: AdvisorContext, advice: Advice) -> Proposal | None:
        limits = RiskLimits.from_dict(context.values.get("risk_limits") or {})
        points_ = context.equity_under_config()
        if len(points_) < 2:
            advice.notes.append(
                f"drawdown rule: no equity history under config v{context.config_version} yet"
            )
            return None
        peak = points_[0].equity
        deepest = Decimal(0)
        for point in points_:
            peak = max(peak, point.equity)
            if peak > 0:
                deepest = max(deepest, (peak - point.equity) / peak)
        trigger = limits.max_drawdown_pct * DRAWDOWN_TRIGGER_SHARE
        current = points_[-1].drawdown
        if deepest < trigger:
            advice.notes.append(
                f"drawdown rule: deepest fall under config v{context.config_version} is {pct(deepest)}, "
                f"below {pct(trigger)} (half of the {pct(limits.max_drawdown_pct)} stop)"
            )
            return None
        change: dict[str, Any] = {}
        for name in self._sizing_fields(limits) + ("max_position_pct_equity",):
            value = getattr(limits, name)
            smaller = self._shrunk(name, value)
            if smaller < value:
                change[name] = f"{smaller.normalize():f}"
        if not change:
            advice.notes.append(
                f"drawdown rule: a {pct(deepest)} fall, but sizing is already at its smallest bounds"
            )
            return None
        before = ", ".join(f"{k} {getattr(limits, k)} → {v}" for k, v in change.items())
        latest = context.metrics[0] if context.metrics else {}
        metrics_line = ""
        if latest:
            metrics_line = (
                f" Latest metrics: return {pct(latest['total_return'])}, max drawdown "
                f"{pct(latest['max_drawdown'])}, {latest['trade_count']} trades."
            )
        rationale = (
            f"Equity fell {pct(deepest)} from its peak under config v{context.config_version} "
            f"(now {pct(current)} below the bot's all-time peak); the emergency stop is at "
            f"{pct(limits.max_drawdown_pct)}. Halve the exposure until it recovers: {before}."
            + metrics_line
        )
        return Proposal(
            kind="risk_limits",
            change={"risk_limits": change},
            rationale=rationale,
            on_expiry="none",
            basis={"rule": "drawdown", "deepest_under_config": str(deepest), "current_drawdown": str(current),
                   "trigger": str(trigger), "equity_points": len(points_)},
        )

    @staticmethod
    def _sizing_fields(limits: RiskLimits) -> tuple[str, ...]:
        if limits.atr_scaling:
            return ("risk_per_trade",)
        return ("fixed_quote",) if limits.sizing_mode == "fixed_quote" else ("fraction_of_equity",)

    @staticmethod
    def _shrunk(name: str, value: Decimal) -> Decimal:
        low = Decimal(LIMIT_BOUNDS[name][0])
        places = Decimal("1") if name == "fixed_quote" else Decimal("0.0001")
        return max(low, (value * SHRINK).quantize(places, rounding=ROUND_DOWN))

    # --- rule 2 -------------------------------------------------------------
    def _grid_search(self, context: AdvisorContext, advice: Advice) -> Proposal | None:
        values = dict(context.values)
        try:
            strategy = get_strategy(values["strategy"])
            current = strategy.validate(values.get("strategy_params") or {})
        except (UnknownStrategy, ParamError) as exc:
            advice.notes.append(f"grid search: the active parameters do not validate ({exc})")
            return None
        candles = context.candles
        if candles is None or len(candles) < MIN_CANDLES:
            have = 0 if candles is None else len(candles)
            advice.notes.append(
                f"grid search: {have} candles in the evidence window, fewer than {MIN_CANDLES}"
                + (f" ({context.candles_note})" if context.candles_note else "")
            )
            return None
        candidates = grid(strategy, current)
        results: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for params in [current, *candidates]:
            result = backtest_values(candles, {**values, "strategy_params": params},
                                     initial_cash=context.bot.initial_cash)
            m = result.metrics
            results.append((params, {"total_return": m.total_return, "max_drawdown": m.max_drawdown,
                                     "trade_count": m.trade_count, "sharpe": m.sharpe}))
        base = results[0][1]
        # Best return; then the shallower drawdown; then the grid's order (deterministic).
        best_params, best = max(results[1:], key=lambda r: (r[1]["total_return"], -r[1]["max_drawdown"]),
                                default=(current, base))
        gain = best["total_return"] - base["total_return"]
        window = f"{len(candles):,} {candles.symbol} {candles.timeframe} candles"
        table = [{"params": p, **{k: (str(v) if v is not None else None) for k, v in r.items()}}
                 for p, r in results]
        verdict = (
            f"grid search over {len(results)} {strategy.name} settings on {window}: best "
            f"{_params_text(best_params)} returns {pct(best['total_return'])} against "
            f"{pct(base['total_return'])} now ({points(gain)})"
        )
        if best_params == current or gain < MIN_RETURN_GAIN:
            advice.notes.append(f"{verdict}; below the {points(MIN_RETURN_GAIN)} bar: no proposal")
            return None
        if best["max_drawdown"] > base["max_drawdown"] + MAX_EXTRA_DRAWDOWN:
            advice.notes.append(
                f"{verdict}, but its drawdown {pct(best['max_drawdown'])} is deeper than "
                f"{pct(base['max_drawdown'])} now by more than {points(MAX_EXTRA_DRAWDOWN)}: no proposal"
            )
            return None
        if best["trade_count"] < MIN_TRADES:
            advice.notes.append(f"{verdict}, but on only {best['trade_count']} trades: no proposal")
            return None
        changed = {k: v for k, v in best_params.items() if current.get(k) != v}
        rationale = (
            f"On the last {window} (in-sample), {strategy.label} with "
            f"{_params_text(changed)} (now {_params_text({k: current[k] for k in changed})}) returned "
            f"{pct(best['total_return'])} against {pct(base['total_return'])} "
            f"({points(gain)}), max drawdown {pct(best['max_drawdown'])} against "
            f"{pct(base['max_drawdown'])}, {best['trade_count']} trades against {base['trade_count']}. "
            f"Best of {len(results)} settings searched; past candles do not promise future ones."
        )
        return Proposal(
            kind="strategy_params",
            change={"strategy_params": changed},
            rationale=rationale,
            basis={"rule": "grid_search", "return_gain": str(gain), "grid": table},
        )


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _axis(spec: ParamSpec, value: int | float) -> list[int | float]:
    factors = INT_FACTORS if spec.type is int else FLOAT_FACTORS
    values: set[int | float] = set()
    for factor in factors:
        scaled = value * factor
        candidate: int | float = round(scaled) if spec.type is int else round(float(scaled), 2)
        values.add(min(max(candidate, spec.minimum), spec.maximum))
    return sorted(values)


def grid(strategy: Strategy, current: dict[str, Any]) -> list[dict[str, Any]]:
    """Valid parameter sets around ``current`` (excluding it), in a fixed order."""
    axes = [_axis(spec, current[spec.name]) for spec in strategy.params_schema]
    names = [spec.name for spec in strategy.params_schema]
    full = 1
    for axis in axes:
        full *= len(axis)
    combos: list[dict[str, Any]] = []
    if full <= MAX_FULL_GRID:
        combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*axes)]
    else:
        for name, axis in zip(names, axes, strict=True):
            combos.extend({**current, name: value} for value in axis)
    found: list[dict[str, Any]] = []
    for combo in combos:
        if combo == current or combo in found:
            continue
        try:
            found.append(strategy.validate(combo))
        except ParamError:
            continue  # e.g. fast ≥ slow
    return found
