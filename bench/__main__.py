"""``make bench``: the figures of every benchmark module, one JSON line each."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path


def main() -> None:
    for module_info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        run = getattr(importlib.import_module(f"bench.{module_info.name}"), "run", None)
        if callable(run):
            for figure in run():
                print(json.dumps(figure), flush=True)


if __name__ == "__main__":
    main()
