"""Real Celery worker and beat processes for the scheduling tests.

They run this checkout's code against the test database (a file on SQLite, the
test database on PostgreSQL) and a real broker (Redis on loopback, or the
embedded SQLite broker). Output goes to a log file the test can show on failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the database the test is using right now (the test database)."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or "postgres"
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{params['NAME']}"


def child_env(broker_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "MARKET_DATA": "replay",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


class Proc:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tradingsite", *args],
            cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        self.handle.flush()
        return self.log.read_text(errors="replace")[-6000:]

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.output()}")
            time.sleep(0.2)
        raise AssertionError(f"{self.name} never printed {text!r}:\n{self.output()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.handle.close()


@contextmanager
def worker(env: dict[str, str], log_dir: Path, name: str = "worker", concurrency: int = 1) -> Iterator[Proc]:
    proc = Proc(name, ["worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "--pool", "prefork",
                       "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"],
                env, log_dir)
    try:
        proc.wait_for_output("ready.", timeout=90)
        yield proc
    finally:
        proc.stop()


@contextmanager
def beat(env: dict[str, str], log_dir: Path, name: str = "beat") -> Iterator[Proc]:
    proc = Proc(name, ["beat", "--loglevel", "INFO", "--scheduler",
                       "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1",
                       "--pidfile", str(log_dir / f"{name}.pid")], env, log_dir)
    try:
        yield proc
    finally:
        proc.stop()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, *procs: Proc) -> Any:
    """Poll the database (or anything) until ``predicate`` is truthy; a bounded wait, not a timing claim."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    logs = "\n".join(f"--- {p.name}\n{p.output()}" for p in procs)
    raise AssertionError(f"gave up waiting for {what}\n{logs}")
