from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from trading.models import Bot, BotConfig, Order


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


class BotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bot
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"bot-{n}")
    initial_cash = Decimal("10000")
    cash = Decimal("10000")
    peak_equity = Decimal("10000")


class BotConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BotConfig

    bot = factory.SubFactory(BotFactory)
    version = factory.Sequence(lambda n: n + 1)
    is_active = True
    symbol = "BTCUSDT"
    timeframe = "1m"
    strategy = "sma_cross"
    strategy_params = factory.LazyFunction(lambda: {"fast": 10, "slow": 30})
    risk_limits = factory.LazyFunction(dict)
    author_name = "system"
    source = BotConfig.Source.SEED


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    bot = factory.SubFactory(BotFactory)
    client_order_id = factory.Sequence(lambda n: f"test-{n:08d}")
    symbol = "BTCUSDT"
    side = "BUY"
    quantity = Decimal("0.01")
    status = Order.Status.OPEN
    created_at = factory.LazyFunction(timezone.now)
