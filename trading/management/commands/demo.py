"""Run everything on one machine: web server, Celery worker and beat (and the
Telegram bot when a token is set), and stop them all cleanly on Ctrl-C.

``--replay`` (the offline demo) plays the bundled real candles on an
accelerated clock so that trades appear within a minute; without it the bots
cycle on live market data at the real pace (``make run``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actors import Actor, Role
from trading import clock, scheduling, state, timeframes
from trading.models import Bot, BotConfig, Candle
from trading.reconcile import reconcile


class Command(BaseCommand):
    help = "Start web server, worker and beat together; Ctrl-C stops them all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--replay", action="store_true", help="offline: bundled candles on a fast clock")
        parser.add_argument("--speed", type=int, default=60, help="simulated seconds per real second")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["speed"] < 1:
            raise CommandError("--speed must be at least 1")
        actor = Actor(name="demo", role=Role.ADMIN)
        if options["replay"]:
            self._start_replay_clock(options["speed"], actor)
        else:
            clock.stop_simulation()
        scheduling.sync_all()
        # Live bots first agree with the exchange (orders, fills, balances).
        for report in reconcile(actor=actor):
            self.stdout.write(f"reconciled {report.bot}: {report.as_dict()}")
        if state.current().state == "PAUSED":
            state.resume(actor=actor, reason="demo start")

        python = sys.executable
        env = {**os.environ}
        commands = {
            "web": [python, "manage.py", "runserver", f"{options['host']}:{options['port']}", "--noreload"],
            "worker": [python, "-m", "celery", "-A", "tradingsite", "worker", "--loglevel", "WARNING",
                       "--concurrency", "2", "--without-gossip", "--without-mingle"],
            "beat": [python, "-m", "celery", "-A", "tradingsite", "beat", "--loglevel", "WARNING",
                     "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                     "--pidfile", str(settings.VAR_DIR / "beat.pid")],
        }
        if settings.TELEGRAM_BOT_TOKEN:
            commands["telegram"] = [python, "manage.py", "telegram_bot"]
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        (settings.VAR_DIR / "beat.pid").unlink(missing_ok=True)
        children: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, command in commands.items():
                # own process group: Ctrl-C reaches us once, and we stop them in order
                children[name] = subprocess.Popen(command, env=env, start_new_session=True)
            self.stdout.write(
                f"\nRunning at http://{options['host']}:{options['port']}/  (admin: /admin/)  "
                f"— {', '.join(children)} started. Ctrl-C stops everything.\n"
            )
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}; stopping the rest")
                        stopping = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children.values():
                try:
                    child.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            self.stdout.write("stopped web, worker and beat")

    def _start_replay_clock(self, speed: int, actor: Actor) -> None:
        configs = list(BotConfig.objects.filter(is_active=True, bot__enabled=True).select_related("bot"))
        if not configs:
            raise CommandError("no enabled bot: run `manage.py seed_demo` first")
        first = (
            Candle.objects.filter(symbol=configs[0].symbol, timeframe=configs[0].timeframe)
            .order_by("open_time").values_list("open_time", flat=True).first()
        )
        if first is None:
            raise CommandError(f"no {configs[0].symbol} candles cached: run `manage.py seed_demo` first")
        # Start after a few hours of history so the strategies have warmed up.
        clock.start_simulation(sim_start=first + timedelta(hours=3), speed=Decimal(speed))
        for config in configs:
            step = max(int(timeframes.seconds(config.timeframe) / speed), 1)
            scheduling.bot_set_schedule(bot=Bot.objects.get(pk=config.bot_id), actor=actor, interval=step)
