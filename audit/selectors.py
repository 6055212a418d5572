"""Reads of the audit trail for the events pages."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

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
    """Newest first. ``type`` matches a dotted prefix: ``trading.order`` finds
    every order event."""
    events = Event.objects.select_related("bot").defer("inputs", "result", "prev_hash", "hash")
    if type:
        events = events.filter(type__startswith=type)
    if actor:
        events = events.filter(actor=actor)
    if bot:
        events = events.filter(bot_id=bot)
    if since:
        events = events.filter(created_at__gte=since)
    if until:
        events = events.filter(created_at__lt=until)
    return events.order_by("-seq")


def event_detail(seq: int) -> Event:
    return get_object_or_404(Event.objects.select_related("bot"), seq=seq)


def chain_status() -> ChainReport:
    """Walks the whole chain: the events page loads it on its own, after the table."""
    return verify_chain()

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
    event = Event.objects.filter(seq=seq).first()
    if event is None:
        raise Http404(f"no event #{seq}")
    return event


def event_chain_status() -> ChainReport:
    return verify_chain()
