"""Writing and verifying the audit trail.

Services that change state call :func:`record` inside their own transaction,
so the event commits with the change or not at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.actors import Actor
from audit.models import ChainHead, Event

GENESIS_HASH = "0" * 64
logger = logging.getLogger(__name__)

# Called with each event after its transaction commits (e.g. to send Telegram
# notifications). A subscriber must be quick and must not fail the caller.
_subscribers: list[Callable[[Event], None]] = []


def subscribe(callback: Callable[[Event], None]) -> None:
    if callback not in _subscribers:
        _subscribers.append(callback)


def _publish(event: Event) -> None:
    for callback in list(_subscribers):
        try:
            callback(event)
        except Exception:  # a notification problem never undoes or blocks the change
            logger.exception("event subscriber %r failed on %s", callback, event.type)


def to_json_value(value: Any) -> Any:
    """Plain JSON (Decimals and datetimes as strings), exactly as it will be stored."""
    return json.loads(json.dumps(value if value is not None else {}, cls=DjangoJSONEncoder))


def canonical_json(
    *,
    seq: int,
    created_at: datetime,
    type: str,
    actor: str,
    bot_id: int | None,
    message: str,
    inputs: Any,
    result: Any,
) -> str:
    payload = {
        "seq": seq,
        "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "type": type,
        "actor": actor,
        "bot_id": bot_id,
        "message": message,
        "inputs": inputs,
        "result": result,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def compute_hash(canonical: str, prev_hash: str) -> str:
    return hashlib.sha256((canonical + prev_hash).encode("utf-8")).hexdigest()


def _row_hash(event: Event) -> str:
    canonical = canonical_json(
        seq=event.seq,
        created_at=event.created_at,
        type=event.type,
        actor=event.actor,
        bot_id=event.bot_id,
        message=event.message,
        inputs=event.inputs,
        result=event.result,
    )
    return compute_hash(canonical, event.prev_hash)


def record(
    type: str,
    actor: Actor | str,
    message: str = "",
    inputs: Any = None,
    result: Any = None,
    bot: Any = None,
    *,
    at: datetime | None = None,
) -> Event:
    """Append one event to the chain.

    ``type`` is a dotted code (``system.state.changed``); ``actor`` the user name,
    ``scheduler``, ``advisor:<name>``, ``telegram:<chat>`` or ``system``.
    """
    actor_name = str(actor)
    inputs_json = to_json_value(inputs)
    result_json = to_json_value(result)
    bot_id = getattr(bot, "pk", bot)
    with transaction.atomic():
        head, _ = ChainHead.objects.select_for_update().get_or_create(id=1)
        created_at = at or timezone.now()
        seq = head.seq + 1
        canonical = canonical_json(
            seq=seq,
            created_at=created_at,
            type=type,
            actor=actor_name,
            bot_id=bot_id,
            message=message,
            inputs=inputs_json,
            result=result_json,
        )
        digest = compute_hash(canonical, head.hash)
        event = Event.objects.create(
            seq=seq,
            created_at=created_at,
            type=type,
            actor=actor_name,
            bot_id=bot_id,
            message=message,
            inputs=inputs_json,
            result=result_json,
            prev_hash=head.hash,
            hash=digest,
        )
        head.seq = seq
        head.hash = digest
        head.save(update_fields=["seq", "hash"])
        if _subscribers:
            transaction.on_commit(lambda: _publish(event))
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


def verify_chain(batch_size: int = 2000) -> ChainReport:
    """Walk the chain in order; report the first row that does not fit."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    fields = ("seq", "created_at", "type", "actor", "bot_id", "message", "inputs", "result",
              "prev_hash", "hash")
    for event in Event.objects.order_by("seq").only(*fields).iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            if event.seq > expected_seq:
                problem = f"event #{expected_seq} is missing (next row is #{event.seq}): deleted"
                return ChainReport(False, checked, expected_seq, problem)
            return ChainReport(False, checked, event.seq, f"event #{event.seq} is out of order")
        if event.prev_hash != prev_hash:
            return ChainReport(
                False, checked, event.seq,
                f"event #{event.seq} does not link to #{event.seq - 1}: rows deleted or reordered",
            )
        if _row_hash(event) != event.hash:
            return ChainReport(
                False, checked, event.seq, f"event #{event.seq} was edited: its hash does not match"
            )
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    head = ChainHead.objects.filter(id=1).first()
    head_seq = head.seq if head else 0
    head_hash = head.hash if head else GENESIS_HASH
    if head_seq != checked or head_hash != prev_hash:
        return ChainReport(
            False, checked, checked + 1,
            f"the chain ends at #{checked} but its head records #{head_seq}: the tail was deleted",
        )
    return ChainReport(True, checked)
