"""Set up the offline demo (idempotent): the role users with printed passwords,
the default bot ``btc-sma`` and the bundled BTCUSDT 1m candles in the cache."""

from __future__ import annotations

import gzip
import json
import secrets
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.actors import Actor, Role
from trading.market_data import candles_import, default_data_dir
from trading.models import Bot, BotConfig, Candle
from trading.services import bot_config_create, user_set_role

DEMO_USERS = ("viewer", "operator", "admin")
DEMO_BOT = "btc-sma"
DEMO_SYMBOL, DEMO_TIMEFRAME = "BTCUSDT", "1m"
DEMO_CASH = Decimal("10000")


def demo_logins_path():  # type: ignore[no-untyped-def]
    return settings.VAR_DIR / "demo-logins.json"


class Command(BaseCommand):
    help = "Create the demo users, the btc-sma bot and its candles (passwords kept in var/demo-logins.json)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--no-candles", action="store_true",
                            help="skip importing the bundled candles (live market data)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = demo_logins_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        logins: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        with transaction.atomic():
            for name in DEMO_USERS:
                password = logins.get(name) or secrets.token_urlsafe(9)
                user = User.objects.filter(username=name).first() or User(username=name)
                if not user.pk or not user.check_password(password):
                    user.set_password(password)
                    user.save()
                user_set_role(user=user, role=name)
                logins[name] = password
        path.write_text(json.dumps(logins, indent=2))
        path.chmod(0o600)
        self.stdout.write("Demo logins (role = user name):")
        for name in DEMO_USERS:
            self.stdout.write(f"  {name:<9} password: {logins[name]}")
        self._seed_bot()
        if not options["no_candles"]:
            self._seed_candles()

    def _seed_bot(self) -> None:
        actor = Actor(name="seed_demo", role=Role.ADMIN)
        bot, created = Bot.objects.get_or_create(
            name=DEMO_BOT,
            defaults={"initial_cash": DEMO_CASH, "cash": DEMO_CASH, "peak_equity": DEMO_CASH},
        )
        if not BotConfig.objects.filter(bot=bot).exists():
            bot_config_create(
                bot=bot, actor=actor, source=BotConfig.Source.SEED, note="demo bot",
                symbol=DEMO_SYMBOL, timeframe=DEMO_TIMEFRAME, strategy="sma_cross",
                strategy_params={"fast": 10, "slow": 30}, risk_limits={}, mode="paper",
            )
        self.stdout.write(f"Bot {bot.name}: {DEMO_SYMBOL} {DEMO_TIMEFRAME}, SMA crossover 10/30, paper, "
                          f"{bot.initial_cash} {bot.quote_asset}" + (" (created)" if created else ""))

    def _seed_candles(self) -> None:
        path = default_data_dir() / "binance" / f"{DEMO_SYMBOL}-{DEMO_TIMEFRAME}.csv.gz"
        with gzip.open(path, "rt") as handle:
            rows = sum(1 for _ in handle) - 1
        cached = Candle.objects.filter(symbol=DEMO_SYMBOL, timeframe=DEMO_TIMEFRAME).count()
        if cached >= rows:
            self.stdout.write(f"Candles: {cached:,} {DEMO_SYMBOL} {DEMO_TIMEFRAME} already cached")
            return
        self.stdout.write(f"Importing {rows:,} real {DEMO_SYMBOL} {DEMO_TIMEFRAME} candles…")
        report = candles_import(
            path=path, symbol=DEMO_SYMBOL, timeframe=DEMO_TIMEFRAME,
            actor=Actor(name="seed_demo", role=Role.ADMIN),
        )
        self.stdout.write(f"Candles: {report.rows:,} imported ({report.inserted:,} new)")
