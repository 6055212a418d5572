"""The single-flight lease of a bot: whoever holds it is the only one trading
or reconciling that bot (a cycle, a manual live order, a reconciliation).

Claimed with a conditional update, so two processes never both hold it; a
holder that dies (worker killed) frees the bot when the lease runs out
(``CYCLE_LEASE_SECONDS``). A holder may also give it back in the update that
ends its work (:meth:`Lease.release_fields`), which saves the update on the way
out.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from trading.models import Bot


@dataclass
class Lease:
    """A claim on a bot's lease; true while held."""

    bot_id: int
    token: str
    held: bool
    released: bool = False

    def __bool__(self) -> bool:
        return self.held

    def ours(self) -> Q:
        """Rows whose lease is still this one."""
        return Q(pk=self.bot_id, cycle_lock_token=self.token)

    def release_fields(self) -> dict[str, Any]:
        """Columns of an update of :meth:`ours` that also gives the lease back;
        call :meth:`mark_released` once that update has committed."""
        return {"cycle_lock_token": "", "cycle_locked_until": None}

    def mark_released(self) -> None:
        self.released = True


@contextlib.contextmanager
def bot_lease(bot: Bot | int) -> Iterator[Lease]:
    """Hold the bot's lease for the ``with`` block; the lease is false when another holds it."""
    bot_id = getattr(bot, "pk", bot)
    token = uuid.uuid4().hex
    real_now = timezone.now()
    claimed = (
        Bot.objects.filter(pk=bot_id)
        .filter(Q(cycle_locked_until__isnull=True) | Q(cycle_locked_until__lt=real_now))
        .update(
            cycle_lock_token=token,
            cycle_locked_until=real_now + timedelta(seconds=settings.CYCLE_LEASE_SECONDS),
        )
    )
    lease = Lease(bot_id, token, held=claimed == 1)
    if not lease:
        yield lease
        return
    try:
        yield lease
    finally:
        if not lease.released:
            Bot.objects.filter(lease.ours()).update(**lease.release_fields())
