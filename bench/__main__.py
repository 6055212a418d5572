"""Run the benchmarks and print one JSON line per figure.

``python -m bench`` runs them all; ``python -m bench backtest cycle`` runs some.
Each module exposes ``run() -> list[dict]``; figures are never asserted in tests.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback

MODULES = ("backtest", "cycle", "market_data", "api_load", "dashboard", "scheduling", "advisor", "chaos")


def main(argv: list[str]) -> int:
    names = argv or list(MODULES)
    failed = False
    for name in names:
        if name not in MODULES:
            print(json.dumps({"bench": name, "error": f"unknown benchmark; choose from {', '.join(MODULES)}"}))
            failed = True
            continue
        try:
            module = importlib.import_module(f"bench.{name}")
            for figure in module.run():
                print(json.dumps({"bench": name, **figure}), flush=True)
        except Exception as exc:  # report and go on with the other benchmarks
            failed = True
            print(json.dumps({"bench": name, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
            traceback.print_exc(file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
