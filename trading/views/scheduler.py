"""The scheduler page: the global switch and each bot's switch and interval.

Every change goes through ``trading.scheduling`` (which keeps beat's periodic
tasks in step and records the change); HTMX gets the panel back, a plain form
post a redirect with a message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.actors import Actor, Role
from trading import scheduling, selectors
from trading.forms import BotScheduleForm, SchedulerSwitchForm
from trading.models import Bot
from tradingsite.pages import page

TEMPLATE = "trading/scheduler.html"


@require_GET
@page(Role.VIEWER)
def scheduler(request: HttpRequest) -> HttpResponse:
    view = selectors.scheduler_view()
    context = {"view": view, "system_state": view.system_state}
    if request.htmx:
        return render(request, f"{TEMPLATE}#panel", context)
    return render(request, TEMPLATE, context)


@require_POST
@page(Role.OPERATOR)
def scheduler_switch(request: HttpRequest) -> HttpResponse:
    form = SchedulerSwitchForm(request.POST)
    if not form.is_valid():
        return _answer(request, error="Say whether to switch the scheduler on or off.", status=400)
    enabled = scheduling.scheduler_set_enabled(enabled=form.switch(), actor=Actor.for_user(request.user))
    if enabled:
        done = "The scheduler is on: each bot that is switched on cycles on its schedule."
    else:
        done = "The scheduler is off: no bot cycles on a schedule until it is switched on again."
    return _answer(request, done=done)


@require_POST
@page(Role.OPERATOR)
def scheduler_bot(request: HttpRequest, bot_id: int) -> HttpResponse:
    bot = get_object_or_404(Bot, pk=bot_id)
    form = BotScheduleForm(request.POST)
    if not form.is_valid():
        error = " ".join(message for messages_ in form.errors.values() for message in messages_)
        return _answer(request, error=f"Nothing was changed for {bot.name}: {error}", status=400)
    try:
        bot = scheduling.bot_set_schedule(bot=bot, actor=Actor.for_user(request.user), **form.changes())
    except scheduling.ScheduleError as exc:
        return _answer(request, error=f"Nothing was changed for {bot.name}: {exc}.", status=400)
    every = scheduling.interval_seconds(bot)
    source = "its own interval" if bot.schedule_interval_seconds else "one per candle of its timeframe"
    switch = "on" if bot.enabled else "off"
    return _answer(request, done=f"{bot.name}: cycles {switch}, every {every} s ({source}).")


def _answer(request: HttpRequest, *, error: str = "", done: str = "", status: int = 200) -> HttpResponse:
    if request.htmx:
        context: dict[str, Any] = {"view": selectors.scheduler_view(), "error": error, "done": done}
        return render(request, f"{TEMPLATE}#panel", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect("dashboard:scheduler")
