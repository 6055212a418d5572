import struct
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from trading import clock
from trading.charts import backtest_png, svg_path


@pytest.mark.django_db
def test_real_clock_when_no_simulation() -> None:
    real = datetime(2026, 1, 1, tzinfo=UTC)
    assert clock.now(real) == real


@pytest.mark.django_db
def test_simulated_clock_runs_at_its_speed_from_its_start() -> None:
    real_start = datetime(2026, 1, 1, tzinfo=UTC)
    sim_start = datetime(2025, 5, 20, 3, 0, tzinfo=UTC)
    clock.start_simulation(sim_start=sim_start, speed=Decimal(60), real_start=real_start)
    assert clock.now(real_start + timedelta(seconds=10)) == sim_start + timedelta(minutes=10)
    clock.stop_simulation()
    assert clock.now(real_start) == real_start


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_backtest_png_is_a_valid_image_with_the_lines_drawn() -> None:
    close = np.linspace(100.0, 200.0, 5000)
    equity = np.linspace(10_000.0, 9_000.0, 5000)
    data = backtest_png(close, equity, buys=[10, 2000], sells=[1000, 4000], width=600, height=300)
    assert _png_size(data) == (600, 300)
    # decode the pixels: the price line (blue) and equity line (green) are there
    idat = b"".join(
        data[pos + 8 : pos + 8 + struct.unpack(">I", data[pos : pos + 4])[0]]
        for pos in _chunk_positions(data, b"IDAT")
    )
    raw = zlib.decompress(idat)
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(300, 1 + 600 * 3)[:, 1:].reshape(300, 600, 3)
    colours = {tuple(int(c) for c in px) for px in rows.reshape(-1, 3)}
    assert (37, 99, 235) in colours and (22, 163, 74) in colours and (220, 38, 38) in colours


def _chunk_positions(data: bytes, kind: bytes) -> list[int]:
    positions, pos = [], 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        if data[pos + 4 : pos + 8] == kind:
            positions.append(pos)
        pos += 12 + length
    return positions


def test_svg_path_downsamples_long_series_to_the_width() -> None:
    path = svg_path(np.arange(100_000, dtype=float), width=500, height=100, lo=0, hi=100_000)
    assert path.startswith("M ")
    assert path.count("L") <= 2 * 500
