from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from approvals.models import Approval
from trading.models import Bot, BotConfig, EquitySnapshot, Fill, MetricsSnapshot, Order, Position


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


class FillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fill

    order = factory.SubFactory(OrderFactory)
    bot = factory.SelfAttribute("order.bot")
    symbol = factory.SelfAttribute("order.symbol")
    side = factory.SelfAttribute("order.side")
    price = Decimal("50000.12345678")
    quantity = Decimal("0.01")
    quote_quantity = factory.LazyAttribute(lambda fill: fill.price * fill.quantity)
    fee = Decimal("0.50000123")
    trade_id = factory.Sequence(lambda n: f"trade-{n}")
    filled_at = factory.LazyFunction(timezone.now)


class PositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Position

    bot = factory.SubFactory(BotFactory)
    symbol = "BTCUSDT"
    quantity = Decimal("0.01")
    avg_entry_price = Decimal("50000")
    last_price = Decimal("51000")


class EquitySnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EquitySnapshot

    bot = factory.SubFactory(BotFactory)
    taken_at = factory.LazyFunction(timezone.now)
    cash = Decimal("9500")
    positions_value = Decimal("510")
    equity = Decimal("10010")
    peak_equity = Decimal("10010")


class MetricsSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetricsSnapshot

    bot = factory.SubFactory(BotFactory)
    taken_at = factory.LazyFunction(timezone.now)
    total_return = Decimal("0.001")
    trade_count = 1


class ApprovalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Approval

    kind = Approval.Kind.STRATEGY_PARAMS
    base_config = factory.SubFactory(BotConfigFactory)
    bot = factory.SelfAttribute("base_config.bot")
    # The shape ``approvals.services.propose`` stores: what to set, and the diff.
    change = factory.LazyAttribute(
        lambda approval: {
            "set": {"strategy_params": {"fast": 14}},
            "diff": [
                {
                    "path": "strategy_params.fast",
                    "from": (approval.base_config.strategy_params or {}).get("fast"),
                    "to": 14,
                }
            ],
        }
    )
    rationale = "faster entries"
    proposer = "advisor:rules"
    created_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
