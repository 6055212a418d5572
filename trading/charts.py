"""Small, dependency-free charts for backtest reports: a PNG rasteriser (numpy +
zlib) and inline SVG paths. Both draw long series by min/max per pixel column,
so 130,000 candles cost what 1,200 do.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WHITE = (255, 255, 255)
GRID = (230, 232, 236)
INK = (60, 64, 72)
BLUE = (37, 99, 235)
GREEN = (22, 163, 74)
RED = (220, 38, 38)

# 3×5 bitmap glyphs for axis labels (rows top to bottom, '#' = ink).
_GLYPHS = {
    "0": ("###", "# #", "# #", "# #", "###"),
    "1": (" # ", "## ", " # ", " # ", "###"),
    "2": ("###", "  #", "###", "#  ", "###"),
    "3": ("###", "  #", "###", "  #", "###"),
    "4": ("# #", "# #", "###", "  #", "  #"),
    "5": ("###", "#  ", "###", "  #", "###"),
    "6": ("###", "#  ", "###", "# #", "###"),
    "7": ("###", "  #", "  #", "  #", "  #"),
    "8": ("###", "# #", "###", "# #", "###"),
    "9": ("###", "# #", "###", "  #", "###"),
    ".": ("   ", "   ", "   ", "   ", " # "),
    "-": ("   ", "   ", "###", "   ", "   "),
    ",": ("   ", "   ", "   ", " # ", "#  "),
    "%": ("# #", "  #", " # ", "#  ", "# #"),
    ":": ("   ", " # ", "   ", " # ", "   "),
    " ": ("   ", "   ", "   ", "   ", "   "),
}


def _glyph(ch: str) -> np.ndarray:
    rows = _GLYPHS.get(ch, _GLYPHS[" "])
    return np.array([[c == "#" for c in row] for row in rows], dtype=bool)


@dataclass
class Canvas:
    width: int
    height: int

    def __post_init__(self) -> None:
        self.pixels = np.full((self.height, self.width, 3), WHITE, dtype=np.uint8)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        x0, x1 = sorted((max(0, x0), min(self.width, x1)))
        y0, y1 = sorted((max(0, y0), min(self.height, y1)))
        self.pixels[y0:y1, x0:x1] = color

    def text(self, x: int, y: int, value: str, color: tuple[int, int, int] = INK, scale: int = 2) -> None:
        for ch in value:
            glyph = np.kron(_glyph(ch), np.ones((scale, scale), dtype=bool))
            h, w = glyph.shape
            if x >= 0 and x + w <= self.width and y >= 0 and y + h <= self.height:
                region = self.pixels[y : y + h, x : x + w]
                region[glyph] = color
            x += w + scale

    def series(
        self, values: np.ndarray, box: tuple[int, int, int, int], color: tuple[int, int, int],
        lo: float, hi: float,
    ) -> None:
        """Draw ``values`` into box (x0, y0, x1, y1) as a min/max-per-column line."""
        x0, y0, x1, y1 = box
        cols = x1 - x0
        n = len(values)
        if n == 0 or cols <= 0:
            return
        span = (hi - lo) or 1.0
        starts = _column_starts(n, cols)
        mins = np.minimum.reduceat(values, starts)
        maxs = np.maximum.reduceat(values, starts)
        xs = x0 + (starts * cols) // n
        def to_y(v: np.ndarray) -> np.ndarray:
            return (y1 - 1 - np.round((v - lo) / span * (y1 - y0 - 1))).astype(int)
        top, bottom = to_y(maxs), to_y(mins)
        prev_top, prev_bottom = top[0], bottom[0]
        for x, t, b in zip(xs, top, bottom, strict=True):
            # join with the previous column so that steep moves stay connected
            lo_y = min(t, prev_bottom)
            hi_y = max(b, prev_top)
            self.pixels[max(y0, lo_y) : min(y1, hi_y + 1), x : x + 2] = color
            prev_top, prev_bottom = t, b

    def markers(
        self, indexes: Sequence[int], values: np.ndarray, n: int, box: tuple[int, int, int, int],
        color: tuple[int, int, int], lo: float, hi: float, up: bool,
    ) -> None:
        x0, y0, x1, y1 = box
        span = (hi - lo) or 1.0
        if self._paint_markers(indexes, values, n, box, color, lo, span, up):
            return
        for i in indexes:
            x = x0 + (int(i) * (x1 - x0)) // max(n, 1)
            y = int(y1 - 1 - round((float(values[i]) - lo) / span * (y1 - y0 - 1)))
            for row in range(5):
                half = row if up else 4 - row
                yy = y + 3 + row if up else y - 7 + row
                self.rect(x - half, yy, x + half + 1, yy + 1, color)

    def _paint_markers(
        self, indexes: Sequence[int], values: np.ndarray, n: int, box: tuple[int, int, int, int],
        color: tuple[int, int, int], lo: float, span: float, up: bool,
    ) -> bool:
        """The triangles ``markers`` draws, painted at once: the same pixels as
        its five ``rect`` rows per marker (all one colour, so their order does
        not matter). False, having painted nothing, unless every marker is
        finite and inside the canvas, where ``rect`` would clip nothing."""
        x0, y0, x1, y1 = box
        at = np.fromiter((int(i) for i in indexes), dtype=np.int64, count=len(indexes))
        if at.size == 0:
            return True
        if ((at < -len(values)) | (at >= len(values))).any():
            return False
        scaled = (values[at].astype(np.float64) - lo) / span * (y1 - y0 - 1)
        if not np.isfinite(scaled).all():
            return False
        xs = x0 + (at * (x1 - x0)) // max(n, 1)
        ys = (y1 - 1 - np.rint(scaled)).astype(np.int64)
        rows, columns = [], []
        for row in range(5):
            half = row if up else 4 - row
            yy = ys + 3 + row if up else ys - 7 + row
            for dx in range(-half, half + 1):
                rows.append(yy)
                columns.append(xs + dx)
        every_row, every_column = np.concatenate(rows), np.concatenate(columns)
        if every_row.min() < 0 or every_row.max() >= self.height or every_column.min() < 0:
            return False
        if every_column.max() >= self.width:
            return False
        self.pixels[every_row, every_column] = color
        return True

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + row.tobytes() for row in self.pixels)

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b"")
        )


def _column_starts(n: int, cols: int) -> np.ndarray:
    """The first value of each pixel column, ``np.unique(np.minimum(edges[:-1], n - 1))``
    (the edges never fall, so the unique values are those that differ from
    the one before; np.unique would also import numpy.ma, at some cost)."""
    starts = np.minimum(((np.arange(cols + 1) * n) // cols)[:-1], n - 1)
    if starts.size < 2:
        return starts
    return starts[np.concatenate(([True], starts[1:] != starts[:-1]))]


def _label(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"


def backtest_png(
    close: np.ndarray, equity: np.ndarray, buys: Sequence[int], sells: Sequence[int],
    width: int = 1200, height: int = 640,
) -> bytes:
    """Price with trade markers (top) and the equity curve (bottom)."""
    canvas = Canvas(width, height)
    left, right = 110, width - 20
    panels = [(20, int(height * 0.6)), (int(height * 0.6) + 30, height - 20)]
    for (top, bottom), values, color in ((panels[0], close, BLUE), (panels[1], equity, GREEN)):
        if len(values) == 0:
            continue
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        pad = (hi - lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
        for k in range(5):
            y = top + (bottom - top) * k // 4
            canvas.rect(left, y, right, y + 1, GRID)
            canvas.text(6, max(0, y - 5), _label(hi - (hi - lo) * k / 4))
        box = (left, top, right, bottom)
        canvas.series(np.nan_to_num(values, nan=lo), box, color, lo, hi)
        if values is close:
            canvas.markers(buys, close, len(close), box, GREEN, lo, hi, up=True)
            canvas.markers(sells, close, len(close), box, RED, lo, hi, up=False)
    return canvas.png()


def svg_path(values: np.ndarray, width: int, height: int, lo: float, hi: float) -> str:
    """An SVG path ("M x y L …") of ``values`` downsampled to min/max per column."""
    n = len(values)
    if n == 0:
        return ""
    cols = min(width, n)
    starts = _column_starts(n, cols)
    mins = np.minimum.reduceat(values, starts)
    maxs = np.maximum.reduceat(values, starts)
    span = (hi - lo) or 1.0
    points: list[str] = []
    for k, (a, b) in enumerate(zip(mins, maxs, strict=True)):
        x = k * width / max(len(starts) - 1, 1)
        for v in (a, b) if k % 2 == 0 else (b, a):
            y = height - (float(v) - lo) / span * height
            points.append(f"{x:.1f} {y:.1f}")
    return "M " + " L ".join(points)
