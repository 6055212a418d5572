from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from audit.actors import Actor, Role
from tests.factories import UserFactory

ROLE_NAMES = ("viewer", "operator", "admin")
pytest_plugins = ["tests.fakes.fixtures", "tests.fakes.telegram_fixtures", "tests.live_support"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``postgres`` run only in the PostgreSQL pass of ``make test``."""
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://… -m postgres")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counters live in the cache: no test inherits another's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def replay(settings):  # type: ignore[no-untyped-def]
    """Cycles read the bundled candles (the replay source): fee 0.1 %, no slippage."""
    from decimal import Decimal

    from trading.market_data import ReplaySource

    settings.MARKET_DATA = "replay"
    settings.PAPER_FEE_BPS = Decimal("10")
    settings.PAPER_SLIPPAGE_BPS = Decimal("0")
    return ReplaySource()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def viewer(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="viewer", role="viewer")


@pytest.fixture
def operator(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="operator", role="operator")


@pytest.fixture
def admin_user(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="admin", role="admin")


@pytest.fixture
def users(viewer, operator, admin_user):  # type: ignore[no-untyped-def]
    return {"viewer": viewer, "operator": operator, "admin": admin_user}


@pytest.fixture
def actors() -> dict[str, Actor]:
    return {
        "viewer": Actor("viewer", Role.VIEWER),
        "operator": Actor("operator", Role.OPERATOR),
        "admin": Actor("admin", Role.ADMIN),
        "system": Actor.system(),
    }


@contextmanager
def eager_tasks(settings, *, propagate: bool) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Tasks run at once, in the test's thread (raising their errors when
    ``propagate``). Set on the Celery app as well as in the settings, because a
    value another test left on ``app.conf`` hides the Django setting; afterwards
    the app is given back exactly as it was, so the settings speak for it again."""
    from tradingsite.celery import app

    keys = ("task_always_eager", "task_eager_propagates")
    saved = {key: app.conf.changes[key] for key in keys if key in app.conf.changes}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = propagate
    app.conf["task_always_eager"] = True
    app.conf["task_eager_propagates"] = propagate
    try:
        yield
    finally:
        for key in keys:
            app.conf.changes.pop(key, None)
        app.conf.changes.update(saved)


@pytest.fixture
def eager_celery(settings):  # type: ignore[no-untyped-def]
    """Tasks queued on commit run at once, in the test's thread, and raise."""
    with eager_tasks(settings, propagate=True):
        yield


@pytest.fixture
def running(db):  # type: ignore[no-untyped-def]
    """The system is RUNNING (orders may be placed)."""
    from trading.models import SystemState

    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
