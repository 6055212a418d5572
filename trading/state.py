"""The system state machine (DESIGN.md §4), the only way to change the state.

Allowed transitions change the state and write ``system.state.changed``;
refused ones raise a :class:`StateError`, change nothing and write
``system.state.refused``. The state row is locked for the read-modify-write,
so two transitions at once cannot both act on the old state.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.actors import Actor, Role
from audit.services import record
from trading.execution import cancel_for_emergency
from trading.models import SystemState
from tradingsite.errors import ServiceError

State = SystemState.State

OPERATORS = frozenset({Role.OPERATOR, Role.ADMIN})
# Who may make each transition. The system may stop everything, and may pause
# (approval expiry policy, repeated exchange bans), but never resumes by itself.
RULES: dict[tuple[str, str], frozenset[Role]] = {
    (State.RUNNING, State.PAUSED): OPERATORS | {Role.SYSTEM},
    (State.PAUSED, State.RUNNING): OPERATORS,
    (State.RUNNING, State.EMERGENCY_STOP): OPERATORS | {Role.SYSTEM},
    (State.PAUSED, State.EMERGENCY_STOP): OPERATORS | {Role.SYSTEM},
    (State.EMERGENCY_STOP, State.PAUSED): frozenset({Role.ADMIN}),
    (State.EMERGENCY_STOP, State.RUNNING): frozenset({Role.ADMIN}),
}
REASON_REQUIRED_FROM = frozenset({State.EMERGENCY_STOP})


class StateError(ServiceError):
    """A refused transition. ``http_status`` tells the API how to answer."""

    http_status = 409
    code = "conflict"


class TransitionNotAllowed(StateError):
    http_status = 409
    code = "transition_not_allowed"


class RoleNotAllowed(StateError):
    http_status = 403
    code = "role_not_allowed"


class ReasonRequired(StateError):
    http_status = 400
    code = "reason_required"


def current() -> SystemState:
    state, _ = SystemState.objects.get_or_create(id=1)
    return state


def is_running() -> bool:
    return current().state == State.RUNNING


def _check(from_state: str, target: str, actor: Actor, reason: str, expected_from: str | None) -> None:
    if from_state == target:
        raise TransitionNotAllowed(f"the system is already {State(target).label.lower()}")
    if expected_from is not None and from_state != expected_from:
        raise TransitionNotAllowed(
            f"the system is {State(from_state).label.lower()}, not {State(expected_from).label.lower()}"
        )
    roles = RULES.get((from_state, target))
    if roles is None:
        raise TransitionNotAllowed(
            f"cannot go from {State(from_state).label.lower()} to {State(target).label.lower()}"
        )
    if actor.role not in roles:
        names = " or ".join(sorted(r.label for r in roles if r != Role.SYSTEM))
        raise RoleNotAllowed(
            f"{actor.role.label} may not go from {State(from_state).label.lower()} to "
            f"{State(target).label.lower()}: needs {names}"
        )
    if from_state in REASON_REQUIRED_FROM and not reason.strip():
        raise ReasonRequired("leaving an emergency stop needs a written reason")


def transition(
    *, target: str, actor: Actor, reason: str = "", expected_from: str | None = None
) -> SystemState:
    """Move the whole system to ``target`` on behalf of ``actor``.

    With ``expected_from`` the move happens only from that state (checked under
    the row lock), so that e.g. "resume" never silently leaves an emergency stop.
    """
    target = State(target)
    reason = (reason or "").strip()
    try:
        with transaction.atomic():
            current()  # make sure the row exists before locking it
            row = SystemState.objects.select_for_update().get(id=1)
            from_state = row.state
            _check(from_state, target, actor, reason, expected_from)
            row.state = target
            row.reason = reason
            row.changed_at = timezone.now()
            row.changed_by = actor.name
            row.save(update_fields=["state", "reason", "changed_at", "changed_by"])
            canceled: list[str] = []
            if target == State.EMERGENCY_STOP:
                canceled = _cancel_open_orders(actor, reason)
            record(
                "system.state.changed",
                actor,
                reason or f"{from_state} → {target}",
                inputs={"from": from_state, "to": target, "reason": reason, "role": actor.role.label},
                result={"state": target, "canceled_orders": canceled},
            )
            return row
    except StateError as exc:
        record(
            "system.state.refused",
            actor,
            exc.message,
            inputs={"to": target, "reason": reason, "role": actor.role.label},
            result={"state": current().state, "error": exc.code},
        )
        raise


def _cancel_open_orders(actor: Actor, reason: str) -> list[str]:
    """Cancel every order still working: paper ones here, live ones on the
    exchange once this transition commits (``cancel_for_emergency``).

    Orders whose status is UNKNOWN are left for reconciliation: cancelling them
    locally could hide an order that the exchange really holds.
    """
    return cancel_for_emergency(actor=actor, reason=reason)


def pause(*, actor: Actor, reason: str = "") -> SystemState:
    return transition(target=State.PAUSED, actor=actor, reason=reason)


def resume(*, actor: Actor, reason: str = "") -> SystemState:
    return transition(target=State.RUNNING, actor=actor, reason=reason)


def emergency_stop(*, actor: Actor, reason: str = "") -> SystemState:
    return transition(target=State.EMERGENCY_STOP, actor=actor, reason=reason or "emergency stop")


def resume_after_emergency(*, actor: Actor, reason: str, target: str = State.PAUSED) -> SystemState:
    """Leave an emergency stop (admin only, with a written reason) to PAUSED or RUNNING."""
    return transition(target=target, actor=actor, reason=reason, expected_from=State.EMERGENCY_STOP)


__all__ = [
    "ReasonRequired",
    "RoleNotAllowed",
    "StateError",
    "TransitionNotAllowed",
    "current",
    "emergency_stop",
    "is_running",
    "pause",
    "resume",
    "resume_after_emergency",
    "transition",
]
