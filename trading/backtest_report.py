"""Files of a backtest report: trades.csv, equity.csv, metrics.json, report.html
and report.png. Money is written from Decimals; the per-candle equity curve is
the backtester's vectorised marks, written to the cent."""

from __future__ import annotations

import csv
import html
import json
from dataclasses import asdict, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from trading.backtest import BacktestResult
from trading.charts import backtest_png, svg_path

METRIC_LABELS = {
    "total_return": "Total return",
    "max_drawdown": "Max drawdown",
    "sharpe": "Sharpe (annualised)",
    "sortino": "Sortino (annualised)",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "avg_trade": "Average trade",
    "exposure": "Exposure",
    "trade_count": "Trades",
}
PERCENT = {"total_return", "max_drawdown", "win_rate", "exposure"}


def metrics_dict(result: BacktestResult) -> dict[str, Any]:
    values = {f.name: getattr(result.metrics, f.name) for f in fields(result.metrics)}
    return {
        **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()},
        "initial_cash": str(result.initial_cash),
        "final_equity": str(result.final_cash),
        "pnl": str(result.final_cash - result.initial_cash),
        "fees": str(sum((t.fees for t in result.trades), Decimal("0"))),
        "candles": len(result.open_time),
        "halted_at": result.halted_at.isoformat() if result.halted_at else None,
        "blocks": dict(result.blocks),
    }


def format_metric(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name in PERCENT:
        return f"{Decimal(value) * 100:,.2f} %"
    if name == "trade_count":
        return str(value)
    return f"{Decimal(value):,.4f}" if name != "avg_trade" else f"{Decimal(value):,.2f}"


def summary_lines(result: BacktestResult) -> list[str]:
    metrics = metrics_dict(result)
    rows = [
        ("Symbol", f"{result.symbol} {result.timeframe}, {len(result.open_time):,} candles"),
        ("Strategy", f"{result.strategy} {json.dumps(result.params, sort_keys=True)}"),
        ("Start / end equity", f"{result.initial_cash:,.2f} → {result.final_cash:,.2f}"),
        ("PnL (fees included)", f"{result.final_cash - result.initial_cash:,.2f} (fees {Decimal(metrics['fees']):,.2f})"),
    ]
    rows += [(label, format_metric(key, metrics[key])) for key, label in METRIC_LABELS.items()]
    if result.blocks:
        rows.append(("Risk blocks", ", ".join(f"{k} {v}" for k, v in result.blocks.most_common())))
    if result.halted_at:
        rows.append(("Stopped", f"drawdown limit hit at {result.halted_at:%Y-%m-%d %H:%M} UTC"))
    width = max(len(label) for label, _ in rows)
    return [f"{label.ljust(width)}  {value}" for label, value in rows]


def write_trades(result: BacktestResult, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["entry_time", "exit_time", "entry_price", "exit_price", "quantity", "fees", "pnl",
                         "entry_reason", "exit_reason"])
        for t in result.trades:
            entry_reason, exit_reason = result.reasons(t)
            writer.writerow([t.entry_time.isoformat(), t.exit_time.isoformat(), t.entry_price, t.exit_price,
                             t.quantity, t.fees, t.pnl, entry_reason, exit_reason])


def write_equity(result: BacktestResult, path: Path) -> None:
    # The bytes ``np.savetxt(fmt=["%d", "%.2f"])`` wrote for the float64 table
    # (open_time as a float, each row formatted with %), a few times faster.
    times, equity = result.open_time.astype(np.float64), result.equity
    row = "%d,%.2f\n".__mod__
    with path.open("w", encoding="latin1", newline="") as handle:
        handle.write("open_time,equity\n")
        for start in range(0, len(times), 16_384):  # a block at a time: little memory
            stop = start + 16_384
            handle.write("".join(map(row, zip(times[start:stop].tolist(), equity[start:stop].tolist(), strict=True))))


def write_report(result: BacktestResult, out: Path, close: np.ndarray) -> list[Path]:
    """Write every report file into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "trades.csv", out / "equity.csv", out / "metrics.json", out / "report.html", out / "report.png"]
    write_trades(result, paths[0])
    write_equity(result, paths[1])
    paths[2].write_text(json.dumps(metrics_dict(result), indent=2) + "\n")
    buys, sells = _marker_indexes(result)
    paths[3].write_text(_html(result, close, buys, sells))
    paths[4].write_bytes(backtest_png(close, result.equity, buys, sells))
    return paths


def _marker_indexes(result: BacktestResult) -> tuple[list[int], list[int]]:
    times = result.open_time
    def indexes(moments: list[Any]) -> list[int]:
        ms = np.array([int(when.timestamp() * 1000) for when in moments], dtype=np.int64)
        found = np.searchsorted(times, ms, side="right") - 1
        return np.minimum(found, len(times) - 1).tolist()
    return indexes([t.entry_time for t in result.trades]), indexes([t.exit_time for t in result.trades])


def _html(result: BacktestResult, close: np.ndarray, buys: list[int], sells: list[int]) -> str:
    width, height = 1100, 320
    def chart(values: np.ndarray, color: str, markers: bool) -> str:
        if len(values) == 0:
            return "<p>No candles.</p>"
        lo, hi = float(values.min()), float(values.max())
        pad = (hi - lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
        path = svg_path(values, width, height, lo, hi)
        marks = ""
        if markers:
            n = len(values)
            def xy(i: int) -> tuple[float, float]:
                return i * width / max(n - 1, 1), height - (float(values[i]) - lo) / (hi - lo) * height
            for i in buys[:2000]:
                x, y = xy(i)
                marks += f'<path d="M{x:.1f} {y + 4:.1f} l-4 7 h8 z" fill="#16a34a"/>'
            for i in sells[:2000]:
                x, y = xy(i)
                marks += f'<path d="M{x:.1f} {y - 4:.1f} l-4 -7 h8 z" fill="#dc2626"/>'
        return (
            f'<svg viewBox="0 0 {width} {height}" role="img" preserveAspectRatio="none" '
            f'style="width:100%;height:{height}px;border:1px solid #e5e7eb">'
            f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1"/>{marks}</svg>'
            f'<div class="axis">{lo:,.2f} – {hi:,.2f}</div>'
        )
    summary = "\n".join(html.escape(line) for line in summary_lines(result))
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            t.entry_time.strftime("%Y-%m-%d %H:%M"), t.exit_time.strftime("%Y-%m-%d %H:%M"),
            t.entry_price, t.exit_price, t.quantity, t.fees, t.pnl, result.reasons(t)[1])) + "</tr>"
        for t in result.trades[:500]
    )
    more = f"<p>{len(result.trades) - 500:,} more trades in trades.csv.</p>" if len(result.trades) > 500 else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Backtest {html.escape(result.strategy)} {html.escape(result.symbol)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:14px system-ui,sans-serif;margin:2rem;color:#1f2937}}pre{{background:#f9fafb;padding:1rem}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border-bottom:1px solid #e5e7eb;padding:2px 8px;text-align:right}}
.axis{{color:#6b7280;font-size:12px;margin-bottom:1rem}}</style></head>
<body><h1>Backtest: {html.escape(result.strategy)} on {html.escape(result.symbol)} {html.escape(result.timeframe)}</h1>
<pre>{summary}</pre>
<h2>Price and trades</h2>{chart(close, "#2563eb", True)}
<h2>Equity</h2>{chart(result.equity, "#16a34a", False)}
<h2>Trades</h2><table><thead><tr><th>Entry</th><th>Exit</th><th>Entry price</th><th>Exit price</th>
<th>Quantity</th><th>Fees</th><th>PnL</th><th>Exit reason</th></tr></thead><tbody>{rows}</tbody></table>{more}
</body></html>
"""


def trade_dicts(result: BacktestResult, limit: int | None = None) -> list[dict[str, Any]]:
    trades = result.trades if limit is None else result.trades[:limit]
    rows = []
    for t in trades:
        row = {k: (str(v) if isinstance(v, Decimal) else v.isoformat() if hasattr(v, "isoformat") else v)
               for k, v in asdict(t).items()}
        row["entry_reason"], row["exit_reason"] = result.reasons(t)
        rows.append(row)
    return rows
