"""The fake Bot API keeps Telegram's getUpdates contract, seen through the real library."""

from __future__ import annotations

import asyncio
import threading

import pytest
from telegram import Bot
from telegram.error import NetworkError, RetryAfter

from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_fixtures import TOKEN


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def updates(fake: FakeTelegram, **kwargs: object) -> list[int]:
    async with Bot(TOKEN, base_url=fake.base_url) as bot:
        return [u.update_id for u in await bot.get_updates(**kwargs)]


def test_a_long_poll_returns_as_soon_as_an_update_arrives(telegram_fake: FakeTelegram) -> None:
    arrived = threading.Timer(0.3, lambda: telegram_fake.command("/status", chat_id=1))
    arrived.start()
    try:
        # With a 60 s poll, an empty answer would mean the poll did not wait for the update.
        got = run(updates(telegram_fake, timeout=60))
    finally:
        arrived.cancel()
    assert len(got) == 1


def test_an_offset_confirms_the_updates_below_it(telegram_fake: FakeTelegram) -> None:
    first = telegram_fake.command("/status", chat_id=1)["update_id"]
    second = telegram_fake.command("/pnl", chat_id=1)["update_id"]
    assert run(updates(telegram_fake)) == [first, second]
    assert run(updates(telegram_fake, offset=second)) == [second]
    assert run(updates(telegram_fake)) == [second]  # the first is gone for good
    assert run(updates(telegram_fake, offset=second + 1)) == []


@pytest.mark.parametrize(("status", "error"), [(500, NetworkError), (502, NetworkError), (429, RetryAfter)])
def test_injected_faults_reach_the_library_as_telegram_errors(
    telegram_fake: FakeTelegram, status: int, error: type[Exception]
) -> None:
    telegram_fake.fail("getMe", status=status, retry_after=3 if status == 429 else None)
    with pytest.raises(error):
        run(updates(telegram_fake))
    assert run(updates(telegram_fake)) == []  # one fault, then normal service
