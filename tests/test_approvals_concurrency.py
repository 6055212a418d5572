"""An approval and an expiry racing for the same proposal end with exactly one
outcome, in either order of arrival, on the real PostgreSQL (threads, one
connection each). SQLite serialises writers, so these run in the PostgreSQL pass.

The forced orders hold the first service's transaction open until PostgreSQL
itself reports the second one waiting on a lock, so each order really happens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from approvals import services
from approvals.models import Approval
from audit.actors import Actor, Role
from audit.models import Event
from audit.services import verify_chain
from tests.factories import BotConfigFactory
from trading.models import Bot, BotConfig, SystemState

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

T0 = timezone.now().replace(microsecond=0)
BEFORE_DEADLINE = T0 + timedelta(minutes=59)
AFTER_DEADLINE = T0 + timedelta(minutes=61)
OPERATOR = Actor("operator", Role.OPERATOR)


class Worker(threading.Thread):
    """Runs ``target`` on its own connection; keeps its result or exception and its backend pid."""

    def __init__(self, target: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.target = target
        self.result: Any = None
        self.error: BaseException | None = None
        self.pid: int | None = None
        self.connected = threading.Event()

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.connected.set()
            self.result = self.target()
        except BaseException as exc:
            self.error = exc
        finally:
            self.connected.set()
            connection.close()


def wait_until_blocked_on_a_lock(worker: Worker) -> None:
    assert worker.connected.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [worker.pid])
            row = cursor.fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.005)
    raise AssertionError("the second service never waited for the first one's lock")


def released_together(*targets: Callable[[], Any]) -> list[Worker]:
    """Each target on its own thread, all let go at the same moment; joined."""
    barrier = threading.Barrier(len(targets))

    def gated(target: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            barrier.wait(10)
            return target()
        return run

    workers = [Worker(gated(target)) for target in targets]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return workers


def make_proposal(on_expiry: str = "pause") -> Approval:
    bot = BotConfigFactory(strategy="sma_cross", strategy_params={"fast": 10, "slow": 30}).bot
    return services.propose(
        bot=bot, kind="strategy_params", change={"strategy_params": {"fast": 12}},
        proposer=Actor.advisor("rules"), on_expiry=on_expiry, ttl_minutes=60, now=T0, evidence={},
    )


def versions(bot: Bot) -> int:
    return BotConfig.objects.filter(bot=bot).count()


def decisions(approval: Approval) -> list[str]:
    return list(Event.objects.filter(
        inputs__approval_id=approval.pk,
        type__in=["approvals.approval.approved", "approvals.approval.rejected", "approvals.approval.expired"],
    ).values_list("type", flat=True))


@pytest.fixture(autouse=True)
def running() -> None:
    assert connection.vendor == "postgresql"
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})


def test_an_approval_that_takes_the_row_first_wins_and_the_expiry_finds_nothing_to_do() -> None:
    approval = make_proposal(on_expiry="pause")
    holding, release = threading.Event(), threading.Event()

    def approve_and_hold() -> Approval:
        with transaction.atomic():
            decided = services.approve(approval_id=approval.pk, actor=OPERATOR, now=BEFORE_DEADLINE)
            holding.set()
            assert release.wait(20)
        return decided

    first = Worker(approve_and_hold)
    first.start()
    assert holding.wait(20)
    second = Worker(lambda: services.expire_due(now=AFTER_DEADLINE))
    second.start()
    wait_until_blocked_on_a_lock(second)
    release.set()
    first.join(20)
    second.join(20)

    assert first.error is None and second.error is None
    assert first.result.status == Approval.Status.APPLIED
    assert second.result == []
    approval.refresh_from_db()
    assert approval.status == Approval.Status.APPLIED
    assert versions(approval.bot) == 2
    assert SystemState.objects.get(id=1).state == "RUNNING"  # the pause policy never ran
    assert decisions(approval) == ["approvals.approval.approved"]
    assert verify_chain().ok


def test_an_expiry_that_takes_the_row_first_wins_and_the_approval_is_refused_409() -> None:
    approval = make_proposal(on_expiry="pause")
    holding, release = threading.Event(), threading.Event()

    def expire_and_hold() -> list[Approval]:
        with transaction.atomic():
            expired = services.expire_due(now=AFTER_DEADLINE)
            holding.set()
            assert release.wait(20)
        return expired

    first = Worker(expire_and_hold)
    first.start()
    assert holding.wait(20)
    second = Worker(lambda: services.approve(approval_id=approval.pk, actor=OPERATOR, now=BEFORE_DEADLINE))
    second.start()
    wait_until_blocked_on_a_lock(second)
    release.set()
    first.join(20)
    second.join(20)

    assert first.error is None and [a.pk for a in first.result] == [approval.pk]
    assert isinstance(second.error, services.AlreadyDecided) and second.error.http_status == 409
    assert "already expired" in second.error.message
    approval.refresh_from_db()
    assert approval.status == Approval.Status.EXPIRED
    assert versions(approval.bot) == 1
    assert SystemState.objects.get(id=1).state == "PAUSED"
    assert decisions(approval) == ["approvals.approval.expired"]
    assert verify_chain().ok


def test_approve_and_expire_released_together_always_end_with_exactly_one_outcome() -> None:
    for _ in range(8):
        SystemState.objects.filter(id=1).update(state="RUNNING")
        approval = make_proposal(on_expiry="pause")
        approving, expiring = released_together(
            partial(services.approve, approval_id=approval.pk, actor=OPERATOR, now=BEFORE_DEADLINE),
            partial(services.expire_due, now=AFTER_DEADLINE),
        )
        approval.refresh_from_db()
        state = SystemState.objects.get(id=1).state
        assert expiring.error is None
        if approval.status == Approval.Status.APPLIED:
            assert approving.error is None and expiring.result == []
            assert versions(approval.bot) == 2 and state == "RUNNING"
        else:
            assert approval.status == Approval.Status.EXPIRED
            assert isinstance(approving.error, services.AlreadyDecided)
            assert versions(approval.bot) == 1 and state == "PAUSED"
        assert len(decisions(approval)) == 1
    assert verify_chain().ok


def test_two_operators_deciding_at_once_give_one_decision_and_one_409() -> None:
    approval = make_proposal(on_expiry="none")
    workers = released_together(
        lambda: services.approve(approval_id=approval.pk, actor=Actor("alice", Role.OPERATOR), now=BEFORE_DEADLINE),
        lambda: services.reject(approval_id=approval.pk, actor=Actor("bob", Role.OPERATOR), now=BEFORE_DEADLINE),
    )
    errors = [w.error for w in workers if w.error is not None]
    assert len(errors) == 1 and isinstance(errors[0], services.AlreadyDecided) and errors[0].http_status == 409
    approval.refresh_from_db()
    assert approval.status in (Approval.Status.APPLIED, Approval.Status.REJECTED)
    assert versions(approval.bot) == (2 if approval.status == Approval.Status.APPLIED else 1)
    assert len(decisions(approval)) == 1
