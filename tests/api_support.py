"""Helpers for the API tests: clients signed in with real tokens, and a small world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.actors import Actor
from audit.models import Event
from audit.services import record
from tests.factories import (
    ApprovalFactory,
    BotConfigFactory,
    BotFactory,
    EquitySnapshotFactory,
    FillFactory,
    MetricsSnapshotFactory,
    OrderFactory,
    PositionFactory,
)
from trading.models import Bot, SystemState


def token_client(user: User | None) -> APIClient:
    """An API client that sends a real knox token of ``user`` (None: anonymous)."""
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def set_state(state: str) -> None:
    SystemState.objects.filter(id=1).update(state=state)


@dataclass
class World:
    bot: Bot
    event: Event
    approval_id: int

    @property
    def url_kwargs(self) -> dict[str, Any]:
        return {"bot_id": self.bot.pk, "version": 1, "seq": self.event.seq, "approval_id": self.approval_id}


def make_world() -> World:
    """A bot with config v1 and v2 (active), one of each record, an event and an approval."""
    bot = BotFactory(name="alpha")
    BotConfigFactory(bot=bot, version=1, is_active=False)
    v2 = BotConfigFactory(bot=bot, version=2, is_active=True, strategy_params={"fast": 12, "slow": 30})
    order = OrderFactory(bot=bot, config=v2)
    FillFactory(order=order)
    PositionFactory(bot=bot)
    EquitySnapshotFactory(bot=bot)
    MetricsSnapshotFactory(bot=bot)
    approval = ApprovalFactory(base_config=v2)
    event = record("test.world.made", Actor.system(), "world made", bot=bot)
    return World(bot=bot, event=event, approval_id=approval.pk)
