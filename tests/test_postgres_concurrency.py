"""Concurrency of the state machine and the audit chain, on the real PostgreSQL.

SQLite serialises writers, so these run in the PostgreSQL pass of `make test`.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from audit.actors import Actor, Role
from audit.models import Event
from audit.services import record, verify_chain
from trading import state
from trading.models import SystemState

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_threads(count: int, target) -> list[object]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_appends_do_not_fork_the_chain() -> None:
    assert connection.vendor == "postgresql"

    def append(index: int) -> None:
        for n in range(10):
            record("test.concurrent", Actor.system(), f"writer {index} event {n}")

    results = run_in_threads(8, append)
    assert not [r for r in results if isinstance(r, Exception)]
    assert Event.objects.filter(type="test.concurrent").count() == 80
    assert sorted(Event.objects.values_list("seq", flat=True)) == list(range(1, 81))
    assert len(set(Event.objects.values_list("prev_hash", flat=True))) == 80
    assert verify_chain().ok


def test_two_simultaneous_pauses_give_one_transition() -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})

    def pause(index: int) -> str:
        state.pause(actor=Actor(f"operator{index}", Role.OPERATOR), reason="race")
        return "paused"

    results = run_in_threads(6, pause)
    assert results.count("paused") == 1
    refused = [r for r in results if isinstance(r, state.TransitionNotAllowed)]
    assert len(refused) == 5
    assert Event.objects.filter(type="system.state.changed").count() == 1
    assert Event.objects.filter(type="system.state.refused").count() == 5
    assert verify_chain().ok


def test_emergency_stop_and_resume_race_leave_one_consistent_outcome() -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": "PAUSED"})
    actions = [
        lambda: state.emergency_stop(actor=Actor("op", Role.OPERATOR), reason="stop"),
        lambda: state.resume(actor=Actor("op2", Role.OPERATOR)),
    ]
    results = run_in_threads(2, lambda i: actions[i]())
    final = SystemState.objects.get(id=1).state
    # Either the stop came last (EMERGENCY_STOP) or the resume was refused after it.
    assert final == "EMERGENCY_STOP"
    changes = list(Event.objects.filter(type="system.state.changed").order_by("seq"))
    assert changes[-1].inputs["to"] == "EMERGENCY_STOP"
    assert len(changes) + Event.objects.filter(type="system.state.refused").count() == 2
    assert all(not isinstance(r, Exception) or isinstance(r, state.StateError) for r in results)
    assert verify_chain().ok
