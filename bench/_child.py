"""What the benchmarks that work in a child process share.

A benchmark's ``run()`` starts ``python -m bench.<name> --child …`` with
:func:`run_child` and reads back the JSON lines it prints (:func:`emit`), so
that the figures never touch the caller's database, settings or Django. The
child sets Django up on a database of its own: :func:`throwaway_django` (a
SQLite file in a temporary folder, gone afterwards) or :func:`django_setup`
(any database URL, e.g. a PostgreSQL one the benchmark has just created).
:func:`command_line` is the module's ``python -m`` entry, both sides.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def run_child(module: str, *args: object, what: str) -> list[dict[str, Any]]:
    """Run ``python -m <module> --child <args>`` and return the JSON lines it printed.

    ``what`` names the benchmark in the error raised when the child fails.
    """
    command = [sys.executable, "-m", module, "--child", *(str(arg) for arg in args)]
    done = subprocess.run(command, cwd=BASE_DIR, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {what} failed:\n{done.stderr[-4000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def command_line(run: Callable[..., list[dict[str, Any]]], child: Callable[..., None], description: str | None) -> None:
    """``python -m bench.<name> [--option N …]`` prints the figures of ``run``; with
    ``--child`` (from :func:`run_child`) it is the child and calls ``child``. The
    options are ``run``'s keyword arguments, with its defaults; ``child`` takes the same."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name, parameter in inspect.signature(run).parameters.items():
        parser.add_argument(f"--{name}", type=type(parameter.default), default=parameter.default)
    options = vars(parser.parse_args())
    if options.pop("child"):
        child(**options)
    else:
        emit(run(**options))


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0.5 for the median)."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def emit(figures: Iterable[dict[str, Any]]) -> None:
    """Print one JSON line per figure (what :func:`run_child` reads back)."""
    for figure in figures:
        print(json.dumps(figure), flush=True)


def django_setup(*, database_url: str, test_environment: bool = False, **env: str) -> None:
    """Point this process at ``database_url``, set Django up and migrate.

    ``env`` adds to or overrides the settings' environment (``MARKET_DATA="binance"``,
    ``TRADING_VAR_DIR=…``); it stays in ``os.environ``, so that processes this
    one starts inherit it. ``test_environment`` lets Django's test client in.
    """
    os.environ.update({
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "SECURE_HTTPS": "false",
        "DEBUG": "false",
        "MARKET_DATA": "replay",
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings",
        **env,
    })
    import django

    django.setup()
    from django.core.management import call_command

    if test_environment:
        from django.test.utils import setup_test_environment

        setup_test_environment()  # ALLOWED_HOSTS takes the test client's "testserver"
    call_command("migrate", verbosity=0, interactive=False)


@contextmanager
def throwaway_django(*, prefix: str | None = None, test_environment: bool = False, **env: str) -> Iterator[str]:
    """:func:`django_setup` on a SQLite database in a temporary folder (also the
    var folder), removed on the way out; yields the folder."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        django_setup(database_url=f"sqlite:///{folder}/bench.sqlite3", test_environment=test_environment,
                     TRADING_VAR_DIR=folder, **env)
        yield folder
