from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_path(name: str) -> Path:
    """A bundled data file such as ``binance/BTCUSDT-1m.csv.gz``.

    Looks in the repository's ``data/`` first, then in the shared copy beside
    the worktrees (``../shared/data/``) until the files are committed here.
    """
    for base in (REPO_ROOT / "data", REPO_ROOT.parent / "shared" / "data"):
        candidate = base / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"data file {name!r} is neither in {REPO_ROOT / 'data'} nor in ../shared/data")
