from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from audit.actors import Actor, Role, role_of
from trading import scheduling, state
from trading.admin_base import ReadOnlyAdmin
from trading.models import (
    Backtest,
    BalanceMismatch,
    Bot,
    BotConfig,
    Candle,
    CycleRun,
    EquitySnapshot,
    Fill,
    MetricsSnapshot,
    Order,
    Position,
    SystemState,
)
from trading.validation import Conflict, InvalidInput
from tradingsite.errors import ServiceError


class StateChangeForm(forms.Form):
    target = forms.ChoiceField(choices=SystemState.State.choices, label="New state")
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required when leaving an emergency stop.",
    )


@admin.register(SystemState)
class SystemStateAdmin(admin.ModelAdmin):
    """The state is changed through the state service, never by editing the row."""

    list_display = ("state", "changed_at", "changed_by", "reason", "scheduler_enabled")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return role_of(request.user) >= Role.OPERATOR

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return role_of(request.user) >= Role.VIEWER

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        state.current()
        return HttpResponseRedirect(reverse("admin:trading_systemstate_change", args=[1]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        row = state.current()
        can_change = self.has_change_permission(request, row)
        form = StateChangeForm(request.POST or None, initial={"target": row.state})
        if request.method == "POST" and can_change and form.is_valid():
            try:
                state.transition(
                    target=form.cleaned_data["target"],
                    actor=Actor.for_user(request.user),
                    reason=form.cleaned_data["reason"],
                )
            except state.StateError as exc:
                messages.error(request, f"Refused: {exc.message}")
            else:
                messages.success(request, f"The system is now {state.current().get_state_display()}.")
                return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": "System state",
            "opts": self.model._meta,
            "row": row,
            "form": form,
            "can_change": can_change,
        }
        return TemplateResponse(request, "admin/trading/systemstate/change_state.html", context)


class BotConfigInline(admin.TabularInline):
    model = BotConfig
    extra = 0
    can_delete = False
    fields = ("version", "is_active", "symbol", "timeframe", "strategy", "mode", "source", "author_name", "created_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BotActionForm(forms.Form):
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    confirm = forms.BooleanField(required=False)


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = (
        "name", "enabled", "schedule_interval_seconds", "cash", "last_cycle_at", "last_candle_time",
        "trading_blocked_reason",
    )
    list_filter = ("enabled",)
    search_fields = ("name",)
    readonly_fields = (
        "cash",
        "peak_equity",
        "created_at",
        "last_cycle_at",
        "last_candle_time",
        "cycle_lock_token",
        "cycle_locked_until",
        # Cleared only by acknowledging what blocked it (an audited service).
        "trading_blocked_reason",
    )
    # A bot's schedule changes through the scheduling service (recorded), from
    # these actions, the scheduler page or the API; not by editing the row.
    schedule_fields = ("enabled", "schedule_interval_seconds")
    inlines = [BotConfigInline]
    actions = [
        "switch_cycles_on", "switch_cycles_off", "set_mode_live", "set_mode_paper", "acknowledge_mismatch",
        "flatten_positions",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.readonly_fields + (self.schedule_fields if obj is not None else ())

    def has_admin_permission(self, request: HttpRequest) -> bool:
        return role_of(request.user) == Role.ADMIN

    def has_operator_permission(self, request: HttpRequest) -> bool:
        return role_of(request.user) >= Role.OPERATOR

    @admin.action(description="Switch scheduled cycles on for the selected bots (operator)", permissions=["operator"])
    def switch_cycles_on(self, request: HttpRequest, queryset: Any) -> None:
        self._switch(request, queryset, enabled=True)

    @admin.action(description="Switch scheduled cycles off for the selected bots (operator)", permissions=["operator"])
    def switch_cycles_off(self, request: HttpRequest, queryset: Any) -> None:
        self._switch(request, queryset, enabled=False)

    def _switch(self, request: HttpRequest, queryset: Any, *, enabled: bool) -> None:
        actor = Actor.for_user(request.user)
        names = []
        for bot in queryset.order_by("name"):
            scheduling.bot_set_schedule(bot=bot, actor=actor, enabled=enabled)
            names.append(bot.name)
        self.message_user(
            request, f"Scheduled cycles {'on' if enabled else 'off'} for {', '.join(names)}.", messages.SUCCESS
        )

    @admin.action(description="Switch to LIVE mode (admin; every other live gate still applies)",
                  permissions=["admin"])
    def set_mode_live(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._confirmed(request, queryset, "set_mode_live", "Switch to live mode",
                               self._set_mode("live", request.user), needs_confirm=True)

    @admin.action(description="Switch to paper mode (admin)", permissions=["admin"])
    def set_mode_paper(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._confirmed(request, queryset, "set_mode_paper", "Switch to paper mode",
                               self._set_mode("paper", request.user), needs_confirm=True)

    @admin.action(description="Acknowledge balance mismatch and unblock (operator)", permissions=["operator"])
    def acknowledge_mismatch(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        from trading.reconcile import mismatch_acknowledge

        def act(bot: Bot, actor: Actor, note: str) -> str:
            mismatch_acknowledge(bot=bot, actor=actor, note=note)
            return f"{bot.name} unblocked"

        return self._confirmed(request, queryset, "acknowledge_mismatch", "Acknowledge balance mismatch", act,
                               needs_note=True)

    @admin.action(description="Flatten positions: cancel open orders and SELL at market (admin)",
                  permissions=["admin"])
    def flatten_positions(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        from trading.live_orders import positions_flatten

        def act(bot: Bot, actor: Actor, note: str) -> str:
            order = positions_flatten(bot=bot, actor=actor, confirm=True)
            return f"{bot.name}: SELL {order.quantity} {order.symbol} {order.status}"

        return self._confirmed(request, queryset, "flatten_positions", "Flatten positions", act, needs_confirm=True)

    @staticmethod
    def _set_mode(mode: str, user: Any) -> Any:
        from trading.services import bot_set_mode

        def act(bot: Bot, actor: Actor, note: str) -> str:
            config = bot_set_mode(bot=bot, mode=mode, actor=actor, note=note, user=user)
            return f"{bot.name} is in {config.mode} mode (v{config.version})"

        return act

    def _confirmed(
        self, request: HttpRequest, queryset: Any, action: str, title: str, act: Any,
        *, needs_confirm: bool = False, needs_note: bool = False,
    ) -> HttpResponse | None:
        """An intermediate page that asks for a confirmation or a note, then acts
        on each selected bot through its service (each refusal shown)."""
        form = BotActionForm(request.POST if request.POST.get("post") == "yes" else None)
        if form.is_bound and form.is_valid():
            confirmed = form.cleaned_data["confirm"] or not needs_confirm
            note = form.cleaned_data["note"].strip()
            if confirmed and (note or not needs_note):
                actor = Actor.for_user(request.user)
                for bot in queryset:
                    try:
                        messages.success(request, act(bot, actor, note))
                    except (ServiceError, Conflict) as exc:
                        messages.error(request, f"{bot.name}: refused: {exc.message}")
                    except InvalidInput as exc:
                        messages.error(request, f"{bot.name}: refused: {exc}")
                return None
            form.add_error(None, "Tick the confirmation box." if not confirmed else "A note is required.")
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "bots": list(queryset),
            "action": action,
            "form": form,
            "needs_confirm": needs_confirm,
            "needs_note": needs_note,
        }
        return TemplateResponse(request, "admin/trading/bot/action_confirm.html", context)


@admin.register(BalanceMismatch)
class BalanceMismatchAdmin(ReadOnlyAdmin):
    list_display = ("detected_at", "bot", "asset", "exchange_quantity", "local_quantity", "difference",
                    "acknowledged_at", "acknowledged_by", "note")
    list_filter = ("asset", "bot")
    list_select_related = ("bot",)


@admin.register(BotConfig)
class BotConfigAdmin(ReadOnlyAdmin):
    list_display = ("bot", "version", "is_active", "strategy", "symbol", "timeframe", "mode", "source", "author_name", "created_at")
    list_filter = ("is_active", "source", "mode", "strategy", "bot")
    search_fields = ("bot__name", "strategy", "note", "author_name")
    list_select_related = ("bot",)


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "timeframe", "open_time", "open", "high", "low", "close", "volume")
    list_filter = ("symbol", "timeframe", "source")
    search_fields = ("symbol",)
    date_hierarchy = "open_time"
    show_full_result_count = False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "bot", "symbol", "side", "order_type", "quantity", "price", "status", "filled_quantity", "avg_fill_price", "mode", "client_order_id")
    list_filter = ("status", "side", "mode", "order_type", "symbol", "bot")
    search_fields = ("client_order_id", "exchange_order_id", "symbol", "reason")
    date_hierarchy = "created_at"
    list_select_related = ("bot",)


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("filled_at", "bot", "symbol", "side", "quantity", "price", "fee", "fee_asset", "trade_id")
    list_filter = ("side", "symbol", "bot")
    search_fields = ("trade_id", "order__client_order_id", "symbol")
    date_hierarchy = "filled_at"
    list_select_related = ("bot",)


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("bot", "symbol", "quantity", "avg_entry_price", "last_price", "realized_pnl", "fees_paid", "updated_at")
    list_filter = ("symbol", "bot")
    search_fields = ("bot__name", "symbol")
    list_select_related = ("bot",)


@admin.register(EquitySnapshot)
class EquitySnapshotAdmin(ReadOnlyAdmin):
    list_display = ("taken_at", "bot", "equity", "cash", "positions_value", "realized_pnl", "unrealized_pnl", "drawdown")
    list_filter = ("bot",)
    search_fields = ("bot__name",)
    date_hierarchy = "taken_at"
    list_select_related = ("bot",)


@admin.register(MetricsSnapshot)
class MetricsSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("taken_at", "bot", "total_return", "max_drawdown", "sharpe", "sortino", "win_rate", "trade_count")
    list_filter = ("bot",)
    search_fields = ("bot__name",)
    date_hierarchy = "taken_at"
    list_select_related = ("bot",)


@admin.register(CycleRun)
class CycleRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "bot", "status", "candle_time", "signal", "decision", "decision_quantity", "actor")
    list_filter = ("status", "signal", "decision", "bot")
    search_fields = ("bot__name", "signal_reason", "detail")
    date_hierarchy = "started_at"
    list_select_related = ("bot",)


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "requested_by", "strategy", "symbol", "timeframe", "status", "progress")
    list_filter = ("status", "strategy", "symbol", "timeframe")
    search_fields = ("requested_by", "strategy", "symbol", "error")
    date_hierarchy = "created_at"
