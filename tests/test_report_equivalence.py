"""The faster report writers give the bytes the plain ones gave."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from trading import charts
from trading.backtest_report import write_equity
from trading.strategies import ParamError, get_strategy


def test_equity_csv_is_what_savetxt_wrote(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    equity = np.concatenate([rng.uniform(0, 20_000, 5000), [0.005, 0.015, 2.675, 1e12, -3.125, np.nan, np.inf]])
    result = SimpleNamespace(open_time=np.arange(len(equity), dtype=np.int64) * 60_000 + 1_747_699_200_000,
                             equity=equity)
    write_equity(result, tmp_path / "fast.csv")  # type: ignore[arg-type]
    table = np.column_stack([result.open_time.astype(np.float64), equity])
    np.savetxt(tmp_path / "plain.csv", table, fmt=["%d", "%.2f"], delimiter=",", header="open_time,equity",
               comments="")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()


@pytest.mark.parametrize(("n", "cols"), [(1, 1), (5, 3), (7, 7), (1000, 1200), (130_708, 1070), (99, 10)])
def test_column_starts_are_the_unique_edges(n: int, cols: int) -> None:
    edges = (np.arange(cols + 1) * n) // cols
    assert charts._column_starts(n, cols).tolist() == np.unique(np.minimum(edges[:-1], n - 1)).tolist()


def draw(values: np.ndarray, indexes: list[int], up: bool, painted: bool) -> np.ndarray:
    canvas = charts.Canvas(300, 200)
    if not painted:
        canvas._paint_markers = lambda *args: False  # type: ignore[method-assign]
    canvas.markers(indexes, values, len(values), (20, 10, 280, 150), charts.GREEN, 0.0, 100.0, up)
    canvas.markers(indexes[::3], values, len(values), (20, 10, 280, 150), charts.RED, 0.0, 100.0, not up)
    return canvas.pixels


@pytest.mark.parametrize("up", [True, False])
def test_markers_paint_the_pixels_the_rects_did(up: bool) -> None:
    rng = np.random.default_rng(3)
    values = rng.uniform(-20, 120, 500)  # some beyond the panel, even the canvas
    for indexes in ([], list(rng.integers(0, 500, 80)), [0, 499, -1, 250, 250]):
        assert (draw(values, indexes, up, True) == draw(values, indexes, up, False)).all()


def test_validated_params_are_remembered_exactly() -> None:
    strategy = get_strategy("sma_cross")
    first = strategy.validate({"fast": 10, "slow": 30})
    first["fast"] = 99  # the caller's copy
    assert strategy.validate({"fast": 10, "slow": 30}) == {"fast": 10, "slow": 30}
    with pytest.raises(ParamError):
        strategy.validate({"fast": 10.0, "slow": 30})  # 10.0 is not 10
    with pytest.raises(ParamError):
        strategy.validate({"fast": 10.0, "slow": 30})
    rsi = get_strategy("rsi_reversion")
    name = next(spec.name for spec in rsi.params_schema if spec.type is float)
    spec = next(spec for spec in rsi.params_schema if spec.name == name)
    if spec.minimum <= 0 <= spec.maximum:
        assert str(rsi.validate({name: -0.0})[name]) == "-0.0"
        assert str(rsi.validate({name: 0.0})[name]) == "0.0"


def test_fills_worded_on_read_read_as_eager_ones() -> None:
    from dataclasses import asdict, replace
    from datetime import UTC, datetime
    from decimal import Decimal as D

    from trading.execution.paper import (
        ExecutionResult,
        FillResult,
        OrderRequest,
        PaperFillModel,
        trade_id_for,
    )

    at = datetime(2025, 6, 1, 12, 1, tzinfo=UTC)
    request = OrderRequest("bt-1748779200-B", "BTCUSDT", "BUY", "MARKET", D("0.00943"), None)
    result = PaperFillModel().fill_market(request, price=D("105943.40"), at=at)
    (fill,) = result.fills
    eager = FillResult(trade_id_for(request.client_order_id, at), fill.price, fill.quantity, fill.quote_quantity,
                       fill.fee, fill.fee_asset, at)
    assert fill == eager and hash(fill) == hash(eager) and repr(fill) == repr(eager)
    assert fill.trade_id == "paper-bt-1748779200-B-1748779260000"
    assert asdict(fill) == asdict(eager)
    assert replace(fill, fee=D("0")).trade_id == fill.trade_id
    again = ExecutionResult("FILLED", (eager,), "filled 0.00943 at 105943.40000000")
    assert result.reason == "filled 0.00943 at 105943.40000000"
    assert result == again and repr(result) == repr(again) and hash(result) == hash(again)
