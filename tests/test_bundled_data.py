"""The data shipped under data/ is what data/README.md says it is."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import pytest

from trading.candle_files import read_candle_file

DATA = Path(__file__).resolve().parent.parent / "data"
FAR_FUTURE_MS = 4_102_444_800_000


def documented_digests() -> dict[str, str]:
    readme = (DATA / "README.md").read_text()
    return {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, flags=re.M)}


def test_every_shipped_file_has_the_digest_its_readme_gives() -> None:
    digests = documented_digests()
    shipped = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file() and p.name != "README.md")
    assert shipped == sorted(name for name in digests if "/" in name or name == "exchange_info.json")
    for name in shipped:
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digests[name], name
    for name in ("ETHUSDT-15m.csv", "BTCUSDT-1h.csv", "BTCUSDT-5m.csv", "BTCUSDT-15m.csv", "XRPETH-1m.csv"):
        text = gzip.decompress((DATA / "binance" / f"{name}.gz").read_bytes())
        assert hashlib.sha256(text).hexdigest() == digests[name], name


@pytest.mark.parametrize(
    ("name", "timeframe", "rows"),
    [("BTCUSDT-1m.csv.gz", "1m", 130_708), ("ETHUSDT-15m.csv.gz", "15m", 8_713), ("BTCUSDT-1h.csv.gz", "1h", 58_419)],
)
def test_every_shipped_candle_file_passes_the_import_checks(name, timeframe, rows) -> None:
    count = sum(1 for _ in read_candle_file(DATA / "binance" / name, timeframe=timeframe, now_ms=FAR_FUTURE_MS))
    assert count == rows
