"""pytest fixtures for the local fake servers (registered in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.fakes import openai as fake_openai_module
from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance, FakeBinanceServer
from trading.adapters.binance import reset_adapters

# Inside the bundled BTCUSDT 1m data, 30 s into the 12:00 candle: 11:59 is the
# newest closed candle and 12:00 is forming.
FAKE_BINANCE_CLOCK = datetime(2025, 8, 18, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def fake_binance(settings) -> Iterator[FakeBinance]:  # type: ignore[no-untyped-def]
    """A fake Binance on 127.0.0.1 with the settings pointed at it (``MARKET_DATA=binance``)."""
    fake = FakeBinance(api_key=API_KEY, api_secret=API_SECRET, clock=FAKE_BINANCE_CLOCK)
    # Loading the 1m file takes longer than the short client timeouts some tests use.
    fake.preload()
    server = FakeBinanceServer(fake).start()
    settings.BINANCE_BASE_URL = server.url
    settings.BINANCE_TESTNET = False
    settings.BINANCE_API_KEY = API_KEY
    settings.BINANCE_API_SECRET = API_SECRET
    settings.MARKET_DATA = "binance"
    reset_adapters()
    try:
        yield fake
    finally:
        server.stop()
        reset_adapters()


@pytest.fixture
def fake_openai(settings) -> Iterator[fake_openai_module.FakeOpenAI]:  # type: ignore[no-untyped-def]
    """A fake OpenAI chat completions API on 127.0.0.1 with the settings pointed at it."""
    fake = fake_openai_module.FakeOpenAI()
    server = fake_openai_module.FakeOpenAIServer(fake).start()
    settings.OPENAI_API_KEY = fake_openai_module.API_KEY
    settings.OPENAI_BASE_URL = server.url
    settings.OPENAI_MODEL = fake_openai_module.MODEL
    settings.OPENAI_TIMEOUT_SECONDS = 5
    settings.OPENAI_MAX_RETRIES = 2
    try:
        yield fake
    finally:
        server.stop()
