"""Backtest pages: the form and past runs, and one run's page, whose progress
bar HTMX polls until the worker is done and the results replace it."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.actors import Actor, Role, role_of
from trading import selectors
from trading.backtest_report import METRIC_LABELS, format_metric
from trading.backtests import BacktestRequestError, backtest_request
from trading.forms import BacktestForm
from trading.models import Backtest
from tradingsite.pages import page

PAGE_SIZE = 25
TRADES_SHOWN = 200
LIST = "trading/backtests.html"
DETAIL = "trading/backtest.html"


def _list_context(request: HttpRequest, form: BacktestForm | None = None, *, with_form: bool = True) -> dict[str, Any]:
    rows = Paginator(selectors.backtest_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {"rows": rows}
    if with_form and role_of(request.user) >= Role.OPERATOR:
        context["form"] = form or BacktestForm()
        context["cached"] = selectors.cached_series()
    return context


@require_GET
@page(Role.VIEWER)
def backtests(request: HttpRequest) -> HttpResponse:
    if request.htmx:
        return render(request, f"{LIST}#table", _list_context(request, with_form=False))
    return render(request, LIST, _list_context(request))


@require_POST
@page(Role.OPERATOR)
def backtest_run(request: HttpRequest) -> HttpResponse:
    """Queue a backtest and go to its page; bad input shows the form again with its errors."""
    form = BacktestForm(request.POST)
    if form.is_valid():
        try:
            job = backtest_request(actor=Actor.for_user(request.user), **form.request())
        except BacktestRequestError as exc:
            form.add_service_errors(exc.field_errors)
        else:
            return redirect("dashboard:backtest", backtest_id=job.pk)
    return render(request, LIST, _list_context(request, form), status=400)


def _metrics(job: Backtest) -> list[tuple[str, str]]:
    metrics = job.metrics or {}
    rows = [(label, format_metric(key, metrics.get(key))) for key, label in METRIC_LABELS.items() if key in metrics]
    if "final_equity" in metrics:
        rows.insert(0, ("Final equity", format_metric("avg_trade", metrics["final_equity"])))
        rows.insert(1, ("PnL (fees included)", format_metric("avg_trade", metrics.get("pnl"))))
    return rows


def _chart(job: Backtest) -> dict[str, Any]:
    return {"series": [{"name": "equity", "points": selectors.chart_points(job.equity_curve)}]}


@require_GET
@page(Role.VIEWER)
def backtest(request: HttpRequest, backtest_id: int) -> HttpResponse:
    job = selectors.backtest_get(backtest_id=backtest_id)
    trades = job.trades or []
    context = {
        "job": job,
        "finished": job.status in (Backtest.Status.DONE, Backtest.Status.FAILED),
        "metrics": _metrics(job),
        "blocks": sorted((job.blocks or {}).items(), key=lambda item: (-item[1], item[0])),
        "trades": trades[:TRADES_SHOWN],
        "more_trades": max(len(trades) - TRADES_SHOWN, 0),
        "chart": _chart(job),
    }
    if request.htmx:
        return render(request, f"{DETAIL}#job", context)
    return render(request, DETAIL, context)
