"""Reads of the audit trail (the events pages and the API)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404

from audit.models import Event
from audit.services import ChainReport, verify_chain


def events_filtered(
    *,
    type: str = "",
    actor: str = "",
    bot: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    """For the events page, newest first. ``type`` matches a dotted prefix:
    ``trading.order`` finds every order event."""
    return (
        event_list(type_prefix=type or None, actor=actor or None, bot=bot or None, since=since, until=until)
        .select_related("bot")
        .defer("inputs", "result", "prev_hash", "hash")
        .order_by("-seq")
    )


def event_list(
    *,
    type: str | None = None,
    type_prefix: str | None = None,
    actor: str | None = None,
    bot: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    events = Event.objects.all()
    if type:
        events = events.filter(type=type)
    if type_prefix:
        events = events.filter(type__startswith=type_prefix)
    if actor:
        events = events.filter(actor=actor)
    if bot is not None:
        events = events.filter(bot_id=bot)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events


def event_get(*, seq: int) -> Event:
    event = Event.objects.select_related("bot").filter(seq=seq).first()
    if event is None:
        raise Http404(f"no event #{seq}")
    return event


def event_chain_status() -> ChainReport:
    """Walks the whole chain (slow on a long log: the events page loads it after the table)."""
    return verify_chain()
