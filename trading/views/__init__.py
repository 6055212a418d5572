"""Dashboard pages of the trading app. Thin: parse, authorise (``@page``), call
one service or selector, render the page or, for HTMX, its fragment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit.actors import Actor, Role, role_of
from trading import selectors, state
from trading.cycle import CycleOutcome
from trading.exports import FILL_COLUMNS, ORDER_COLUMNS, export
from trading.forms import DiffForm, LedgerFilterForm, OrderFilterForm, RollbackForm, StateChangeForm
from trading.models import Bot
from trading.services import RollbackRefused, bot_config_rollback, cycle_trigger
from tradingsite.pages import filtered_table, page, refuse

# --- overview and the system state ---------------------------------------------


def _controls_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    current = selectors.system_state()
    return {
        "system_state": current,  # read once per request, for the header's badge too
        "targets": selectors.allowed_targets(current.state, role_of(request.user)),
        **extra,
    }


@require_GET
@page(Role.VIEWER)
def overview(request: HttpRequest) -> HttpResponse:
    context = {"overview": selectors.overview()}
    if request.htmx:
        return render(request, "trading/overview.html#live", context)
    return render(request, "trading/overview.html", {**context, **_controls_context(request)})


@require_GET
@page(Role.VIEWER)
def state_badge(request: HttpRequest) -> HttpResponse:
    current = selectors.system_state()
    seen = request.GET.get("seen")
    if seen == current.state:
        # Nothing to swap, so screen readers do not hear the same state again.
        return HttpResponse(status=204)
    response = render(request, "base.html#state_badge", {"system_state": current})
    if seen:
        # Another hand changed the state: the parts of the page that depend
        # on it are asked to refresh.
        response["HX-Trigger"] = "system-state-changed"
    return response


@require_GET
@page(Role.VIEWER)
def state_panel(request: HttpRequest) -> HttpResponse:
    if request.htmx:
        return render(request, "trading/overview.html#controls", _controls_context(request))
    return redirect("dashboard:overview")


@require_POST
@page(Role.OPERATOR)
def state_change(request: HttpRequest) -> HttpResponse:
    form = StateChangeForm(request.POST)
    if not form.is_valid():
        return _state_answer(request, error="That is not a state the system knows.", status=400)
    target = form.cleaned_data["target"]
    reason = form.cleaned_data["reason"]
    if target == state.State.EMERGENCY_STOP and not form.cleaned_data["confirmed"]:
        return _state_answer(request, confirming_stop=True)
    try:
        row = state.transition(target=target, actor=Actor.for_user(request.user), reason=reason)
    except state.StateError as exc:
        return _state_answer(request, error=f"Refused: {exc.message}.", status=exc.http_status)
    return _state_answer(request, done=f"The system is now {row.get_state_display().lower()}.")


def _state_answer(
    request: HttpRequest,
    *,
    error: str = "",
    done: str = "",
    confirming_stop: bool = False,
    status: int = 200,
) -> HttpResponse:
    """HTMX gets the controls (with the header badge out of band); a plain form
    post gets the overview, or a redirect to it after a change."""
    context = _controls_context(request, error=error, done=done, confirming_stop=confirming_stop)
    if request.htmx:
        return render(request, "trading/overview.html#controls", {**context, "badge_oob": True}, status=status)
    if confirming_stop or error:
        context["overview"] = selectors.overview()
        return render(request, "trading/overview.html", context, status=status)
    messages.success(request, done)
    return redirect("dashboard:overview")


# --- a bot ---------------------------------------------------------------------


def _bot_context(request: HttpRequest, name: str, **extra: Any) -> dict[str, Any]:
    bot_page = selectors.bot_page(name)
    versions = {c.version: c for c in bot_page.configs}
    diff_form = DiffForm(request.GET or None)
    a = b = None
    if diff_form.is_valid():
        a = versions.get(diff_form.cleaned_data["a"])
        b = versions.get(diff_form.cleaned_data["b"])
    if a is None and b is None and len(bot_page.configs) >= 2:
        # By default: what the latest change did.
        b, a = bot_page.configs[0], bot_page.configs[1]
    diff_error = ""
    if diff_form.is_bound and (a is None or b is None):
        diff_error = "Pick two versions that exist to compare them."
    return {
        "page": bot_page,
        "diff_a": a,
        "diff_b": b,
        "diff": selectors.config_diff(a, b) if a and b else [],
        "diff_error": diff_error,
        **extra,
    }


@require_GET
@page(Role.VIEWER)
def bot_detail(request: HttpRequest, name: str) -> HttpResponse:
    context = _bot_context(request, name)
    if request.htmx:
        return render(request, "trading/bot.html#diff", context)
    return render(request, "trading/bot.html", context)


@require_POST
@page(Role.ADMIN)
def bot_rollback(request: HttpRequest, name: str) -> HttpResponse:
    bot = get_object_or_404(Bot, name=name)
    form = RollbackForm(request.POST)
    if not form.is_valid():
        return _rollback_answer(request, name, error="Say which version to roll back to.", status=400)
    version = form.cleaned_data["version"]
    try:
        config = bot_config_rollback(
            bot=bot, version=version, actor=Actor.for_user(request.user), author=request.user
        )
    except RollbackRefused as exc:
        return _rollback_answer(request, name, error=f"Nothing was changed: {exc}.", status=409)
    return _rollback_answer(request, name, done=f"{bot.name} now runs v{config.version}, a copy of v{version}.")


def _rollback_answer(
    request: HttpRequest, name: str, *, error: str = "", done: str = "", status: int = 200
) -> HttpResponse:
    if request.htmx:
        context = _bot_context(request, name, error=error, done=done)
        return render(request, "trading/bot.html#config", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect("dashboard:bot", name=name)


def _outcome_sentence(outcome: CycleOutcome) -> str:
    """What a cycle run by hand did, in one sentence."""
    if outcome.status == "skipped":
        return f"Skipped: {outcome.message}."
    signal = f"{outcome.signal.action.name} signal" if outcome.signal else "no signal"
    decision = outcome.decision
    if outcome.order is not None:
        order = outcome.order
        filled = f"{order.filled_quantity.normalize():f} {order.symbol}"
        price = f" at {order.avg_fill_price.normalize():f}" if order.avg_fill_price else ""
        return f"Cycle done: {signal}, allowed; {order.side.lower()} order {order.status.lower()}, {filled}{price}."
    if decision is not None and decision.verdict == "BLOCK":
        why = "; ".join(r.message for r in decision.reasons if r.blocking)
        return f"Cycle done: {signal}, blocked by the risk engine ({why}); no order."
    return f"Cycle done: {signal}, nothing to trade."


@require_POST
@page(Role.OPERATOR)
def bot_cycle(request: HttpRequest, name: str) -> HttpResponse:
    """Run one cycle of the bot now, through the same service as every other way in."""
    bot = get_object_or_404(Bot, name=name)
    outcome = cycle_trigger(bot=bot, actor=Actor.for_user(request.user))
    sentence = _outcome_sentence(outcome)
    if request.htmx:
        return render(request, "trading/bot.html#last_cycle", _bot_context(request, name, cycle_done=sentence))
    messages.success(request, sentence)
    return redirect("dashboard:bot", name=name)


# --- orders and fills ------------------------------------------------------------


Select = Callable[..., QuerySet[Any]]


def _ledger(request: HttpRequest, form_class: type[LedgerFilterForm], select: Select, template: str) -> HttpResponse:
    form = form_class(request.GET or None, bots=selectors.bot_names())
    return filtered_table(request, form, select, template)


def _csv(
    request: HttpRequest,
    form_class: type[LedgerFilterForm],
    select: Select,
    columns: tuple[tuple[str, str], ...],
    name: str,
) -> HttpResponse:
    form = form_class(request.GET or None, bots=selectors.bot_names())
    filters = form.filters() if form.is_bound else {}
    if filters is None:
        return refuse(request, "The filters are not valid, so nothing was exported: fix them and try again.", status=400)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(export(select(**filters), columns), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


@require_GET
@page(Role.VIEWER)
def orders(request: HttpRequest) -> HttpResponse:
    return _ledger(request, OrderFilterForm, selectors.orders_filtered, "trading/orders.html")


@require_GET
@page(Role.VIEWER)
def orders_csv(request: HttpRequest) -> HttpResponse:
    return _csv(request, OrderFilterForm, selectors.orders_filtered, ORDER_COLUMNS, "orders")


@require_GET
@page(Role.VIEWER)
def fills(request: HttpRequest) -> HttpResponse:
    return _ledger(request, LedgerFilterForm, selectors.fills_filtered, "trading/fills.html")


@require_GET
@page(Role.VIEWER)
def fills_csv(request: HttpRequest) -> HttpResponse:
    return _csv(request, LedgerFilterForm, selectors.fills_filtered, FILL_COLUMNS, "fills")
