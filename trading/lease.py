"""The single-flight lease of a bot: whoever holds it is the only one trading
or reconciling that bot (a cycle, a manual live order, a reconciliation).

Claimed with a conditional update, so two processes never both hold it; a
holder that dies (worker killed) frees the bot when the lease runs out
(``CYCLE_LEASE_SECONDS``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from trading.models import Bot


@contextlib.contextmanager
def bot_lease(bot: Bot | int) -> Iterator[bool]:
    """Hold the bot's lease for the ``with`` block; yields False when another holds it."""
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
    if claimed != 1:
        yield False
        return
    try:
        yield True
    finally:
        Bot.objects.filter(pk=bot_id, cycle_lock_token=token).update(cycle_lock_token="", cycle_locked_until=None)
