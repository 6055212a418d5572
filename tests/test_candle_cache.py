"""Parsed candle files kept in a cache: the same arrays as a fresh parse, never stale."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests import data_path
from trading.candles import Candles, load_csv, load_csv_cached


def assert_same(a: Candles, b: Candles) -> None:
    assert (a.symbol, a.timeframe) == (b.symbol, b.timeframe)
    for name in ("open_time", "open", "high", "low", "close", "volume"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes(), name


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npz"))


def test_the_real_series_from_the_cache_is_the_parsed_series(tmp_path: Path) -> None:
    source = data_path("binance/BTCUSDT-1m.csv.gz")
    parsed = load_csv(source, "BTCUSDT", "1m")
    first = load_csv_cached(source, "BTCUSDT", "1m", tmp_path)
    assert len(entries(tmp_path)) == 1
    again = load_csv_cached(source, "BTCUSDT", "1m", tmp_path)
    assert_same(first, parsed)
    assert_same(again, parsed)
    assert_same(load_csv_cached(source, "XBT", "5m", tmp_path), load_csv(source, "XBT", "5m"))


def write_csv(path: Path, rows: list[str]) -> None:
    text = "open_time,open,high,low,close,volume\n" + "".join(row + "\n" for row in rows)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


@pytest.mark.parametrize("name", ["candles.csv", "candles.csv.gz"])
def test_an_edited_file_is_parsed_again_even_with_the_same_size_and_time(tmp_path: Path, name: str) -> None:
    source, cache = tmp_path / name, tmp_path / "cache"
    write_csv(source, ["60000,1.5,2,1,1.75,10", "120000,1.75,2,1.5,1.5,3"])
    stat = source.stat()
    first = load_csv_cached(source, "X", "1m", cache)
    assert first.close.tolist() == [1.75, 1.5]
    write_csv(source, ["60000,1.5,2,1,1.25,10", "120000,1.75,2,1.5,1.5,3"])  # same size
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = load_csv_cached(source, "X", "1m", cache)
    assert second.close.tolist() == [1.25, 1.5]
    assert_same(second, load_csv(source, "X", "1m"))
    assert len(entries(cache)) == 2


def test_a_damaged_entry_is_parsed_again_and_replaced(tmp_path: Path) -> None:
    source, cache = tmp_path / "c.csv", tmp_path / "cache"
    write_csv(source, ["60000,1,1,1,1,1"])
    load_csv_cached(source, "X", "1m", cache)
    (entry,) = entries(cache)
    entry.write_bytes(b"not a zip")
    assert_same(load_csv_cached(source, "X", "1m", cache), load_csv(source, "X", "1m"))
    with np.load(entry) as data:
        assert data["close"].tolist() == [1.0]
    np.savez(entry, open_time=np.zeros(1), open=np.zeros(2))  # wrong dtypes and lengths
    assert_same(load_csv_cached(source, "X", "1m", cache), load_csv(source, "X", "1m"))


def test_no_cache_when_its_folder_cannot_be_written(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    write_csv(source, ["60000,1,1,1,1,1"])
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    assert_same(load_csv_cached(source, "X", "1m", blocker / "cache"), load_csv(source, "X", "1m"))
    assert_same(load_csv_cached(source, "X", "1m", None), load_csv(source, "X", "1m"))


def test_bad_files_fail_as_they_do_without_the_cache(tmp_path: Path) -> None:
    source, cache = tmp_path / "c.csv", tmp_path / "cache"
    source.write_text("time,price\n1,2\n")
    with pytest.raises(ValueError, match="expected header"):
        load_csv_cached(source, "X", "1m", cache)
    truncated = tmp_path / "t.csv.gz"
    shutil.copy(data_path("binance/BTCUSDT-1m.csv.gz"), truncated)
    truncated.write_bytes(truncated.read_bytes()[:50_000])
    with pytest.raises(EOFError):
        load_csv_cached(truncated, "X", "1m", cache)
    with pytest.raises(EOFError):
        load_csv(truncated, "X", "1m")
    assert entries(cache) == []
