"""``manage.py import_candles``: strict validation, all-or-nothing, idempotent."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import Event
from trading.market_data import default_data_dir
from trading.models import Candle

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
HEADER = "open_time,open,high,low,close,volume"
T0 = 1_747_699_200_000  # 2025-05-20 00:00 UTC
MIN = 60_000


def good_rows(count: int, start: int = T0) -> list[str]:
    return [f"{start + i * MIN},100.5,101,99.75,100.25,{i}.125" for i in range(count)]


def write(tmp_path: Path, lines: list[str], name: str = "candles.csv") -> Path:
    path = tmp_path / name
    text = "\n".join(lines) + "\n" if lines else ""
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def run(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("import_candles", str(path), "--symbol", "BTCUSDT", "--timeframe", "1m", *args, stdout=out,
                 stderr=io.StringIO())
    return out.getvalue()


GOOD = good_rows(30)  # lines 2..31
AFTER = T0 + 30 * MIN  # the open time that would come next

BAD_FILES = {
    "wrong header": (["time,o,h,l,c,v", *GOOD], 1, "expected the header"),
    "empty file": ([], 1, "the file is empty"),
    "header only": ([HEADER], 2, "no candles"),
    "missing field": ([HEADER, *GOOD, f"{AFTER},1,1,1,1"], 32, "expected 6"),
    "extra field": ([HEADER, *GOOD, f"{AFTER},1,1,1,1,1,1"], 32, "expected 6"),
    "open_time not a number": ([HEADER, *GOOD, "2025-05-20,1,1,1,1,1"], 32, "not a whole number"),
    "open_time in seconds": ([HEADER, "1747699200,1,1,1,1,1"], 2, "seconds rather than milliseconds"),
    "open_time not aligned": ([HEADER, *GOOD, f"{AFTER + 1500},1,1,1,1,1"], 32, "not aligned to 1m"),
    "duplicate": ([HEADER, *GOOD, GOOD[-1]], 32, "duplicate open_time"),
    "going back in time": ([HEADER, *GOOD, GOOD[3]], 32, "not after the previous"),
    "high below close": ([HEADER, *GOOD, f"{AFTER},100,100.5,99,101,1"], 32, "high 100.5 is below max(open, close) 101"),
    "high below open": ([HEADER, *GOOD, f"{AFTER},102,101,99,100,1"], 32, "high 101 is below"),
    "low above open": ([HEADER, *GOOD, f"{AFTER},100,102,100.5,101,1"], 32, "low 100.5 is above min(open, close) 100"),
    "zero price": ([HEADER, *GOOD, f"{AFTER},0,1,0,0,1"], 32, "open 0 is not positive"),
    "negative price": ([HEADER, *GOOD, f"{AFTER},-1,1,-2,-1,1"], 32, "not positive"),
    "negative volume": ([HEADER, *GOOD, f"{AFTER},1,1,1,1,-0.5"], 32, "volume -0.5 is negative"),
    "price not a number": ([HEADER, *GOOD, f"{AFTER},1,abc,1,1,1"], 32, "high 'abc' is not a number"),
    "NaN": ([HEADER, *GOOD, f"{AFTER},NaN,1,1,1,1"], 32, "not a finite number"),
    "infinity": ([HEADER, *GOOD, f"{AFTER},1,Infinity,1,1,1"], 32, "not a finite number"),
    "too many decimals": ([HEADER, *GOOD, f"{AFTER},1.123456789,2,1,1,1"], 32, "more than 8 decimal places"),
    "too large": ([HEADER, *GOOD, f"{AFTER},1e20,1e20,1e20,1e20,1"], 32, "too large"),
    "empty line": ([HEADER, *GOOD[:5], "", *GOOD[5:]], 7, "empty line"),
    "not closed yet": ([HEADER, *GOOD, "4102444800000,1,1,1,1,1"], 32, "has not closed yet"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_file_is_refused_at_its_first_bad_line_and_nothing_is_imported(tmp_path, case) -> None:
    lines, line, reason = BAD_FILES[case]
    path = write(tmp_path, lines)
    with pytest.raises(CommandError) as caught:
        run(path)
    message = str(caught.value)
    assert f"line {line}: " in message
    assert reason in message
    assert message.endswith("nothing was imported")
    assert "\n" not in message
    assert Candle.objects.count() == 0
    assert not Event.objects.filter(type="market_data.candles.imported").exists()


def test_a_corrupt_gzip_file_is_refused(tmp_path) -> None:
    path = tmp_path / "candles.csv.gz"
    path.write_bytes(gzip.compress(("\n".join([HEADER, *good_rows(5000)]) + "\n").encode())[:3000])
    with pytest.raises(CommandError, match="nothing was imported"):
        run(path)
    assert Candle.objects.count() == 0


def test_zero_volume_candles_are_valid(tmp_path) -> None:
    # Binance's flat, tradeless candle of 2023-03-24 12:00 (the spot halt), with its neighbours.
    with gzip.open(default_data_dir() / "binance" / "BTCUSDT-1h.csv.gz", "rt") as handle:
        lines = [line.strip() for line in handle]
    at = next(i for i, line in enumerate(lines) if line.startswith("1679659200000,"))
    path = write(tmp_path, [HEADER, *lines[at - 2 : at + 3]])
    out = io.StringIO()
    call_command("import_candles", str(path), "--symbol", "BTCUSDT", "--timeframe", "1h", stdout=out)
    flat = Candle.objects.get(timeframe="1h", volume=0)
    assert (flat.open, flat.high, flat.low, flat.close) == (Decimal("28080"),) * 4
    assert Candle.objects.count() == 5


def test_importing_twice_changes_nothing_the_second_time(tmp_path) -> None:
    path = write(tmp_path, [HEADER, *good_rows(500)], "candles.csv.gz")
    first = run(path)
    assert "imported 500 BTCUSDT 1m candles" in first and "500 new, 0 already cached" in first
    snapshot = list(Candle.objects.order_by("open_time").values_list("open_time", "open", "close", "volume"))
    second = run(path)
    assert "0 new, 500 already cached" in second
    assert list(Candle.objects.order_by("open_time").values_list("open_time", "open", "close", "volume")) == snapshot
    assert Event.objects.filter(type="market_data.candles.imported").count() == 2


def test_import_of_a_bundled_file_keeps_every_value_exactly(tmp_path) -> None:
    path = default_data_dir() / "binance" / "ETHUSDT-15m.csv.gz"
    out = io.StringIO()
    call_command("import_candles", str(path), "--symbol", "ETHUSDT", "--timeframe", "15m", stdout=out)
    assert "8713 new" in out.getvalue()
    first = Candle.objects.get(symbol="ETHUSDT", timeframe="15m", open_time__year=2025, open_time__month=5,
                               open_time__day=20, open_time__hour=0, open_time__minute=0)
    # 1747699200000,2528.14,2545.67,2522.92,2543.6,8551.1486
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        Decimal("2528.14"), Decimal("2545.67"), Decimal("2522.92"), Decimal("2543.6"), Decimal("8551.1486"),
    )
    assert first.close_time - first.open_time == timedelta(minutes=15)
    event = Event.objects.get(type="market_data.candles.imported")
    assert event.result["rows"] == 8713
    assert event.inputs["sha256"] == "3e1438efbd6e8d1125c998a1cfebe13bfa8c43ba82a0967d978dfc2e0fc49811"


def test_the_progress_bar_goes_to_stderr_only_when_asked_or_on_a_terminal(tmp_path, capsys) -> None:
    path = write(tmp_path, [HEADER, *good_rows(50)])
    run(path)
    assert "candle" not in capsys.readouterr().err  # not a terminal, short file
    Candle.objects.all().delete()
    run(path, "--progress")
    assert "candle" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbol", "BTC/USDT", "--timeframe", "1m"], "--symbol 'BTC/USDT' is not a symbol"),
        (["--symbol", "BTCUSDT", "--timeframe", "7m"], "--timeframe '7m' is not one of"),
    ],
)
def test_bad_options_are_refused_with_one_line(tmp_path, args, message) -> None:
    path = write(tmp_path, [HEADER, *good_rows(3)])
    with pytest.raises(CommandError, match=message):
        call_command("import_candles", str(path), *args)


def test_a_missing_file_is_refused(tmp_path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "nope.csv")


def test_from_the_shell_a_bad_file_exits_non_zero_with_one_line_and_no_traceback(tmp_path) -> None:
    path = write(tmp_path, [HEADER, *GOOD, GOOD[-1]])
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    done = subprocess.run(
        [sys.executable, "manage.py", "import_candles", str(path), "--symbol", "BTCUSDT", "--timeframe", "1m"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "line 32: duplicate open_time" in lines[0]
    assert "Traceback" not in done.stderr


def test_rows_written_before_a_late_bad_line_are_rolled_back(tmp_path, monkeypatch) -> None:
    """Should the file change between the check and the write, the write is all or nothing."""
    from audit.actors import Actor
    from trading import market_data
    from trading.candle_files import CandleFileError

    path = write(tmp_path, [HEADER, *good_rows(5000), "oops"])
    monkeypatch.setattr(market_data, "candle_file_check", lambda *a, **k: (5000, T0, T0))
    with pytest.raises(CandleFileError, match="line 5002"):
        market_data.candles_import(path=path, symbol="BTCUSDT", timeframe="1m", actor=Actor.system())
    assert Candle.objects.count() == 0
