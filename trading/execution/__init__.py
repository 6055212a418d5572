"""Order execution: the paper engine, and live execution behind its gates.

The package itself stays importable without Django (``paper`` is a pure core
that the backtester runs outside any Django process), so the ORM is imported
inside the functions that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit.actors import Actor

# Order.Status values of orders still working (compared as plain strings).
CANCELABLE = ("NEW", "OPEN", "PARTIALLY_FILLED")


def cancel_for_emergency(*, actor: Actor, reason: str) -> list[str]:
    """Cancel working orders when the system enters EMERGENCY_STOP.

    Runs inside the state transition's transaction. Orders in UNKNOWN state stay
    for reconciliation: the exchange may hold them.
    """
    from django.utils import timezone

    from audit.services import record
    from trading.models import Order

    canceled: list[str] = []
    orders = Order.objects.select_for_update().filter(status__in=CANCELABLE).order_by("id")
    for order in orders:
        updated = Order.objects.filter(pk=order.pk, status=order.status).update(
            status=Order.Status.CANCELED,
            status_reason=f"emergency stop: {reason}",
            updated_at=timezone.now(),
        )
        if updated == 1:
            canceled.append(order.client_order_id)
            record(
                "trading.order.canceled",
                actor,
                f"canceled by emergency stop: {reason}",
                inputs={"client_order_id": order.client_order_id, "previous_status": order.status},
                result={"status": Order.Status.CANCELED},
                bot=order.bot_id,
            )
    return canceled
