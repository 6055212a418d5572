"""The approvals pages: pending proposals to decide, and the decided ones.

A decision goes through ``approvals.services`` (approve applies the change as
a new config version at once, or fails with the reason); the page shows what
came of it in the proposal's own card.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from approvals import selectors, services
from approvals.forms import DecisionForm
from audit.actors import Actor, Role
from trading.models import Bot
from tradingsite.pages import page, refuse

HISTORY_PAGE_SIZE = 25
LIST = "approvals/approvals.html"


@require_GET
@page(Role.VIEWER)
def approvals(request: HttpRequest) -> HttpResponse:
    history = Paginator(selectors.approvals_decided(), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    if request.htmx:
        return render(request, f"{LIST}#table", {"rows": history})
    now = timezone.now()
    cards = [selectors.approval_card(approval, now) for approval in selectors.approvals_pending()]
    bots = Bot.objects.filter(enabled=True).order_by("name").only("pk", "name")
    return render(request, LIST, {"cards": cards, "rows": history, "bots": bots})


@require_POST
@page(Role.OPERATOR)
def advise(request: HttpRequest) -> HttpResponse:
    """Ask an advisor about a bot now; the page says what it proposed or why nothing."""
    from approvals.advisor.services import AdvisorNotAllowed, UnknownAdvisor, advisor_run

    bot = Bot.objects.filter(pk=request.POST.get("bot") or 0).first()
    if bot is None:
        messages.error(request, "Choose a bot to ask about.")
        return redirect("approvals:list")
    try:
        report = advisor_run(bot=bot, advisor=request.POST.get("advisor", "rules"), actor=Actor.for_user(request.user))
    except (UnknownAdvisor, AdvisorNotAllowed) as exc:
        messages.error(request, f"Nothing was asked: {exc.message}.")
        return redirect("approvals:list")
    if report.proposals:
        messages.success(request, f"{report.advisor} proposed {len(report.proposals)} change(s) for {bot.name}: see below.")
    else:
        why = "; ".join([*report.refused, *report.notes, report.failed] if report.failed else [*report.refused, *report.notes])
        messages.info(request, f"No proposal for {bot.name}" + (f": {why}" if why else "."))
    return redirect("approvals:list")


@require_GET
@page(Role.VIEWER)
def approval_detail(request: HttpRequest, approval_id: int) -> HttpResponse:
    approval = selectors.approval_for_page(approval_id=approval_id)
    return render(request, "approvals/approval.html", {"card": selectors.approval_card(approval, timezone.now())})


@require_POST
@page(Role.OPERATOR)
def decide(request: HttpRequest, approval_id: int) -> HttpResponse:
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _answer(request, approval_id, error="Say whether to approve or reject, with a note of at most 2,000 characters.", status=400)
    decide_with = services.approve if form.cleaned_data["decision"] == "approve" else services.reject
    try:
        approval = decide_with(
            approval_id=approval_id, actor=Actor.for_user(request.user), note=form.cleaned_data["note"]
        )
    except services.ApprovalNotFound as exc:
        return refuse(request, f"{exc.message[:1].upper()}{exc.message[1:]}: it may have been removed.", status=404)
    except services.ApprovalError as exc:
        return _answer(request, approval_id, error=f"Nothing was changed: {exc.message}.", status=exc.http_status)
    return _answer(request, approval_id, done=selectors.decision_outcome(approval))


def _answer(
    request: HttpRequest, approval_id: int, *, error: str = "", done: str = "", status: int = 200
) -> HttpResponse:
    """HTMX gets the proposal's card back with the outcome; a plain form post
    goes back to the list with a message."""
    if request.htmx:
        approval = selectors.approval_for_page(approval_id=approval_id)
        context: dict[str, Any] = {
            "card": selectors.approval_card(approval, timezone.now()), "error": error, "done": done,
        }
        return render(request, f"{LIST}#card", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect("approvals:list")
