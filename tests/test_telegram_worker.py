"""Notifications through a real Celery worker process and the real Redis.

The test process changes the state (and returns); the worker renders the
notification, fans it out and delivers it to the fake Bot API, retrying with
real countdowns. Runs in the PostgreSQL pass: the worker reads the committed
event from the same test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from audit.actors import Actor, Role
from audit.models import Event
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_fixtures import ALLOWED, TOKEN
from trading import notifications, state
from trading.models import SystemState
from tradingsite.celery import app as celery_app

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parent.parent


class Worker:
    def __init__(self, queue: str, fake: FakeTelegram, log: Path) -> None:
        db = connection.settings_dict
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "CELERY_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="tests.telegram_worker_settings",
            TEST_CELERY_QUEUE=queue,
            CELERY_BROKER_URL=REDIS_URL,
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_ALLOWED_CHATS=",".join(f"{chat}:{role}" for chat, role in ALLOWED.items()),
        )
        self.log = log
        self._file = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tradingsite", "worker", "-Q", queue, "--pool", "solo",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", f"{queue}@localhost"],
            cwd=ROOT, env=env, stdout=self._file, stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._file.close()
        return self.output()


@pytest.fixture
def queue() -> Iterator[str]:
    """This test's own queue on the real Redis; the test process publishes to it too."""
    name = f"wt-telegram-worker-{uuid.uuid4().hex[:10]}"
    app = Celery("telegram-worker-tests", broker=REDIS_URL, set_as_current=False)
    app.conf.update(task_default_queue=name)
    with app.connection_for_write() as conn:
        try:
            conn.ensure_connection(max_retries=1)
        except Exception:
            pytest.fail("Redis is not running on 127.0.0.1:6379: start it with `make services`")
    app.set_current()
    try:
        yield name
    finally:
        celery_app.set_current()
        with app.connection_for_write() as conn:
            conn.SimpleQueue(name).clear()
        app.close()


@pytest.fixture
def worker(queue: str, telegram_config: FakeTelegram, tmp_path: Path) -> Iterator[Worker]:
    running = Worker(queue, telegram_config, tmp_path / "worker.log")
    try:
        yield running
    finally:
        running.stop()


def test_a_real_worker_delivers_to_every_chat_and_retries_a_hung_request(
    telegram_config: FakeTelegram, worker: Worker
) -> None:
    fake = telegram_config
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
    # The first delivery hangs past the client's read timeout; the worker is
    # single-threaded, so nothing can be delivered while it waits.
    fake.slow("sendMessage", 60, times=1)

    state.pause(actor=Actor("operator", Role.OPERATOR), reason="worker test")

    # Committed and returned while Telegram is still hanging.
    assert SystemState.objects.get(id=1).state == "PAUSED"
    assert Event.objects.filter(type="system.state.changed").count() == 1
    assert not [c for c in fake.calls("sendMessage") if c.status == 200]

    delivered = fake.wait_for(lambda: sorted(m["chat"]["id"] for m in fake.sent()) == sorted(ALLOWED), 120)
    output = worker.stop()
    assert delivered, output
    assert {m["text"] for m in fake.sent()} == {"System state: RUNNING → PAUSED by operator\nReason: worker test"}
    assert "TimedOut" in output and "retrying in 2 s" in output
    assert TOKEN not in output


def test_a_real_worker_gives_up_after_three_retries_and_says_so(
    telegram_config: FakeTelegram, worker: Worker
) -> None:
    fake = telegram_config
    fake.fail("sendMessage", status=500, times=None)
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})

    state.pause(actor=Actor("operator", Role.OPERATOR))
    assert SystemState.objects.get(id=1).state == "PAUSED"

    attempts = len(ALLOWED) * (1 + notifications.MAX_RETRIES)
    finished = fake.wait_for(lambda: len([c for c in fake.calls("sendMessage") if c.status]) >= attempts, 120)
    # The last attempt's log line follows its request: wait for every "gave up".
    given_up = fake.wait_for(lambda: worker.output().count("gave up") == len(ALLOWED), 30)
    output = worker.stop()
    assert finished and given_up, output
    assert len(fake.calls("sendMessage")) == attempts
    assert fake.sent() == []
    for countdown in ("2 s", "4 s", "8 s"):
        assert output.count(f"retrying in {countdown}") == len(ALLOWED)
