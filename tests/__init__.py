from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_path(name: str) -> Path:
    """A file of the repository's ``data/``, e.g. ``binance/BTCUSDT-1m.csv.gz``.

    ``binance/BTCUSDT-15m.csv`` finds the gzipped ``binance/BTCUSDT-15m.csv.gz``.
    """
    for candidate in (REPO_ROOT / "data" / name, REPO_ROOT / "data" / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"data file {name!r} is not in {REPO_ROOT / 'data'}")
