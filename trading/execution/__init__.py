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

    Runs inside the state transition's transaction. Paper orders, and live
    orders never sent, are canceled here (a conditional update, so a live
    order's claim to be sent and this cancel cannot both win). Live orders the
    exchange holds are canceled on the exchange once the transition has
    committed (no network call inside the transaction), each recorded; orders
    in flight or UNKNOWN stay for reconciliation: the exchange may hold them,
    and reconciliation cancels them while the system is stopped.
    """
    from django.db import transaction
    from django.db.models import Q
    from django.utils import timezone

    from audit.services import record
    from trading.models import Mode, Order

    canceled: list[str] = []
    local = Q(mode=Mode.PAPER) | Q(mode=Mode.LIVE, status=Order.Status.NEW, sent_at__isnull=True)
    orders = Order.objects.select_for_update().filter(local, status__in=CANCELABLE).order_by("id")
    for order in orders:
        updated = Order.objects.filter(pk=order.pk, status=order.status, sent_at__isnull=True).update(
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
                inputs={"client_order_id": order.client_order_id, "previous_status": order.status,
                        "mode": order.mode},
                result={"status": Order.Status.CANCELED, "sent": False},
                bot=order.bot_id,
            )
    if Order.objects.filter(mode=Mode.LIVE, status__in=("OPEN", "PARTIALLY_FILLED")).exists():
        transaction.on_commit(lambda: _cancel_on_exchange(actor=actor, reason=reason))
    return canceled


def _cancel_on_exchange(*, actor: Actor, reason: str) -> None:
    import logging

    from trading.execution import live

    try:
        live.cancel_open_orders(actor=actor, reason=f"emergency stop: {reason}")
    except Exception:  # the stop itself has committed; reconciliation cancels what is left
        logging.getLogger(__name__).exception("canceling live orders after an emergency stop failed")
