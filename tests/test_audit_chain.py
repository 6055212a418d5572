"""The audit trail is hash-chained and append-only; tampering is found and named."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.actors import Actor
from audit.models import AppendOnlyError, Event
from audit.services import record, verify_chain


@pytest.fixture
def chain(db):  # type: ignore[no-untyped-def]
    return [
        record("test.event", Actor.system(), f"event {i}", inputs={"i": i, "price": "1.10"}, result={"ok": True})
        for i in range(1, 6)
    ]


def raw(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def test_intact_chain_verifies(chain) -> None:  # type: ignore[no-untyped-def]
    report = verify_chain()
    assert report.ok and report.checked == 5
    call_command("verify_audit")


def test_each_row_links_to_the_one_before(chain) -> None:  # type: ignore[no-untyped-def]
    for before, after in zip(chain, chain[1:], strict=False):
        assert after.prev_hash == before.hash
        assert after.seq == before.seq + 1


def test_edit_with_raw_sql_is_found(chain) -> None:  # type: ignore[no-untyped-def]
    raw("UPDATE events_log SET message = %s WHERE seq = 3", ["nothing to see"])
    report = verify_chain()
    assert not report.ok and report.first_bad_seq == 3
    assert "edited" in report.problem
    with pytest.raises(CommandError, match="#3"):
        call_command("verify_audit")


def test_edited_inputs_are_found(chain) -> None:  # type: ignore[no-untyped-def]
    raw("UPDATE events_log SET inputs = %s WHERE seq = 2", ['{"i": 2, "price": "9.99"}'])
    assert verify_chain().first_bad_seq == 2


def test_deleted_row_is_found(chain) -> None:  # type: ignore[no-untyped-def]
    raw("DELETE FROM events_log WHERE seq = 4")
    report = verify_chain()
    assert not report.ok and report.first_bad_seq == 4
    assert "missing" in report.problem


def test_deleted_tail_is_found(chain) -> None:  # type: ignore[no-untyped-def]
    raw("DELETE FROM events_log WHERE seq = 5")
    report = verify_chain()
    assert not report.ok and report.first_bad_seq == 5


def test_reordered_rows_are_found(chain) -> None:  # type: ignore[no-untyped-def]
    # Swap the positions of rows 2 and 3 by exchanging their sequence numbers.
    raw("UPDATE events_log SET seq = -2 WHERE seq = 2")
    raw("UPDATE events_log SET seq = 2 WHERE seq = 3")
    raw("UPDATE events_log SET seq = 3 WHERE seq = -2")
    report = verify_chain()
    assert not report.ok and report.first_bad_seq == 2


def test_orm_refuses_updates_and_deletes(chain) -> None:  # type: ignore[no-untyped-def]
    event = Event.objects.get(seq=1)
    event.message = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(seq=1).update(message="changed")
    with pytest.raises(AppendOnlyError):
        Event.objects.all().delete()
    assert verify_chain().ok


def test_decimals_and_datetimes_are_stored_as_hashed(db) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime
    from decimal import Decimal

    event = record(
        "test.types", "system", inputs={"qty": Decimal("0.00012345"), "at": datetime(2025, 5, 20, tzinfo=UTC)}
    )
    stored = Event.objects.get(pk=event.pk)
    assert stored.inputs == {"qty": "0.00012345", "at": "2025-05-20T00:00:00Z"}
    assert verify_chain().ok


def test_admin_refuses_to_edit_or_delete_an_event(client, admin_user, chain) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    event = Event.objects.get(seq=1)
    url = f"/admin/audit/event/{event.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="message"' not in page.content  # shown read-only, no input
    response = client.post(url, {"message": "rewritten"})
    assert response.status_code == 403
    assert client.post(f"/admin/audit/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.get(seq=1).message == "event 1"
    assert verify_chain().ok
