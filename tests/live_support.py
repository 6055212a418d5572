"""Helpers for the live execution tests: a live bot against the local fake
Binance, candle paths that give known signals, and moving the clocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from audit.actors import Actor, Role
from tests.factories import BotConfigFactory
from tests.fakes.binance import FakeBinance
from tests.fakes.fixtures import FAKE_BINANCE_CLOCK
from trading import cycle
from trading.adapters.binance import BinanceAdapter, get_adapter
from trading.models import Bot, Order, SystemState
from trading.timeframes import to_ms

D = Decimal
MINUTE = 60_000
SYMBOL = "BTCUSDT"
ORDER = "/api/v3/order"
ADMIN = Actor("admin", Role.ADMIN)
OPERATOR = Actor("operator", Role.OPERATOR)
SCHEDULER = Actor.scheduler()
# 12:00:00, the candle forming at the fake's clock (12:00:30).
FORMING_MS = to_ms(FAKE_BINANCE_CLOCK) - to_ms(FAKE_BINANCE_CLOCK) % MINUTE


class FakeClock:
    """The adapter's clock (for the 418 breaker), moved by hand."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class LiveEnv:
    fake: FakeBinance
    adapter: BinanceAdapter
    sleeps: list[float] = field(default_factory=list)

    def at(self, moment: datetime) -> datetime:
        """Move the exchange's clock (and keep our signed requests in its recvWindow)."""
        self.fake.set_clock(moment)
        self.adapter.sync_time()
        return moment

    def cycle(self, bot: Bot, moment: datetime, actor: Actor = SCHEDULER) -> cycle.CycleOutcome:
        return cycle.run_cycle(bot, self.at(moment), actor)

    def orders_posted(self) -> int:
        return self.fake.count(ORDER, "POST")

    def requests(self) -> int:
        return sum(self.fake.hits.values())


def set_path(fake: FakeBinance, closes: list[int | str], first_open_ms: int) -> None:
    """1m candles with these closes from ``first_open_ms`` on; each opens at the previous close."""
    rows: list[list[Any]] = []
    previous = D(closes[0])
    for i, close in enumerate(closes):
        c = D(close)
        rows.append([first_open_ms + i * MINUTE, str(previous), str(max(previous, c)), str(min(previous, c)),
                     str(c), "10"])
        previous = c
    fake.set_candles(SYMBOL, "1m", rows)


def buy_then_sell_path(fake: FakeBinance) -> None:
    """SMA 2/3 on 1m: a BUY on the 11:59 candle (acted on at 12:00:30, filled at
    101000), a SELL on the 12:00 candle (acted on at 12:01:30, filled at 98000),
    then a slow decline without signals."""
    # More than the 1000 candles a first refresh fetches, so no hole is seen.
    history = 1100
    closes: list[int | str] = [100010 + 10 * (history - 1 - i) for i in range(history)]  # … 11:58
    closes += [101000, 98000]  # 11:59 crosses up, 12:00 crosses down
    closes += [97990 - 10 * i for i in range(30)]
    set_path(fake, closes, FORMING_MS - (history + 1) * MINUTE)


def minute(n: int) -> datetime:
    """n minutes after the fake's start clock (12:00:30 + n min)."""
    return FAKE_BINANCE_CLOCK + timedelta(minutes=n)


def make_live_bot(name: str = "live-bot", **limits: object) -> Bot:
    config = BotConfigFactory(
        bot__name=name, symbol=SYMBOL, timeframe="1m", strategy="sma_cross",
        strategy_params={"fast": 2, "slow": 3}, risk_limits=dict(limits), mode="live",
    )
    return config.bot


def live_orders(bot: Bot) -> list[Order]:
    return list(Order.objects.filter(bot=bot).order_by("id"))


@pytest.fixture
def live_env(fake_binance, settings, db) -> LiveEnv:  # type: ignore[no-untyped-def]
    """Every gate open: live trading on, credentials for the fake, the system RUNNING."""
    settings.LIVE_TRADING_ENABLED = True
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
    adapter = get_adapter()
    env = LiveEnv(fake=fake_binance, adapter=adapter)
    adapter.sleep = env.sleeps.append  # no test waits for real
    return env

