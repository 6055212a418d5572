"""Pytest fixtures for the Telegram fake (registered from ``tests/conftest.py``).

``telegram_fake`` is a running :class:`FakeTelegram`, emptied for each test;
``telegram_config`` points the settings at it with an allow list of every role;
``telegram_bot`` drives the real bot application (python-telegram-bot polling
the fake) one interaction at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from tests.fakes.telegram import FakeTelegram

TOKEN = "123456:TEST-fake-token-for-the-test-suite"
# Private chats (chat id = user id), a group listed as viewer, and an operator
# user who is listed on their own (so their role wins inside the group).
ADMIN, OPERATOR, VIEWER, STRANGER = 1001, 1002, 1003, 4444
GROUP, GROUP_OPERATOR = -100777, 1005
ALLOWED = {ADMIN: "admin", OPERATOR: "operator", VIEWER: "viewer", GROUP: "viewer", GROUP_OPERATOR: "operator"}


@pytest.fixture(scope="session")
def telegram_server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def telegram_fake(telegram_server: FakeTelegram) -> Iterator[FakeTelegram]:
    telegram_server.reset()
    yield telegram_server
    telegram_server.reset()


@pytest.fixture
def telegram_config(settings: Any, telegram_fake: FakeTelegram) -> FakeTelegram:
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_BASE_URL = telegram_fake.base_url
    settings.TELEGRAM_ALLOWED_CHATS = dict(ALLOWED)
    return telegram_fake


class BotDriver:
    """Runs the real bot application against the fake for one interaction at a
    time: start polling, inject an update, wait for the bot's answer, stop.

    The test thread stays the one that runs the handlers' database calls (the
    event loop runs beside it through ``async_to_sync``), so handlers see the
    test's transaction like a request would.
    """

    def __init__(self, fake: FakeTelegram, allowed: dict[int, str]) -> None:
        self.fake = fake
        self.allowed = allowed

    def send(self, text: str, *, chat_id: int, user_id: int | None = None) -> list[dict[str, Any]]:
        """Send ``text``; return the messages the bot sent to that chat in answer."""
        before = len(self.fake.sent(chat_id))
        self._interact(
            lambda: self.fake.command(text, chat_id=chat_id, user_id=user_id),
            lambda: len(self.fake.sent(chat_id)) > before,
        )
        return self.fake.sent(chat_id)[before:]

    def send_unanswered(self, text: str, *, chat_id: int, edited: bool = False) -> None:
        """Send ``text`` and let the bot take it (and finish with it) without waiting for a reply."""
        update: dict[str, Any] = {}
        self._interact(
            lambda: update.update(self.fake.command(text, chat_id=chat_id, edited=edited)),
            lambda: self.fake.pending_updates() == 0,  # fetched and confirmed; stop() lets it finish
        )

    def press(self, message: dict[str, Any], data: str, *, user_id: int) -> dict[str, Any]:
        """Press a button under ``message``; return the answerCallbackQuery parameters."""
        return self._answered(lambda: self.fake.press(message, data, user_id=user_id))

    def callback(self, data: str, *, user_id: int, **kwargs: Any) -> dict[str, Any]:
        return self._answered(lambda: self.fake.callback(data, user_id=user_id, **kwargs))

    def _answered(self, inject: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        update: dict[str, Any] = {}

        def push() -> None:
            update.update(inject())

        def answered() -> bool:
            query_id = update.get("callback_query", {}).get("id")
            return any(c.params.get("callback_query_id") == query_id and c.status is not None
                       for c in self.fake.calls("answerCallbackQuery"))

        self._interact(push, answered)
        query_id = update["callback_query"]["id"]
        return next(c.params for c in self.fake.calls("answerCallbackQuery")
                    if c.params.get("callback_query_id") == query_id)

    def _interact(self, inject: Callable[[], Any], done: Callable[[], bool]) -> None:
        async_to_sync(self._session)(inject, done)

    async def _session(self, inject: Callable[[], Any], done: Callable[[], bool]) -> None:
        from trading.adapters.telegram import ALLOWED_UPDATES, build_application

        app = build_application(token=TOKEN, base_url=self.fake.base_url, allowed_chats=self.allowed)
        async with app:
            await app.updater.start_polling(timeout=1, allowed_updates=ALLOWED_UPDATES)
            await app.start()
            try:
                inject()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 20
                while not done():
                    if loop.time() > deadline:
                        raise AssertionError("the bot did not answer within 20 s")
                    await asyncio.sleep(0.01)
            finally:
                await app.updater.stop()
                await app.stop()


@pytest.fixture
def telegram_bot(telegram_config: FakeTelegram) -> BotDriver:
    return BotDriver(telegram_config, dict(ALLOWED))
