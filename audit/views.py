"""The events log pages: the audit trail, one event, and the chain's status."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit import selectors
from audit.actors import Role
from audit.forms import EventFilterForm
from trading.selectors import bot_names
from tradingsite.pages import filtered_table, page


@require_GET
@page(Role.VIEWER)
def events(request: HttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET or None, bots=bot_names())
    return filtered_table(request, form, selectors.events_filtered, "audit/events.html")


@require_GET
@page(Role.VIEWER)
def event_detail(request: HttpRequest, seq: int) -> HttpResponse:
    return render(request, "audit/event.html", {"event": selectors.event_get(seq=seq)})


@require_GET
@page(Role.VIEWER)
def chain(request: HttpRequest) -> HttpResponse:
    context = {"report": selectors.event_chain_status()}
    if request.htmx:
        return render(request, "audit/events.html#chain", context)
    return render(request, "audit/chain.html", context)
