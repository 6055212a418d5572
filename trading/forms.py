"""Forms of the dashboard pages: they parse input, the services act on it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from trading import scheduling
from trading.models import Order, Side, SystemState
from trading.timeframes import TIMEFRAME_SECONDS

ANY = [("", "Any")]


class StateChangeForm(forms.Form):
    target = forms.ChoiceField(choices=SystemState.State.choices)
    reason = forms.CharField(required=False, max_length=2000)
    # An emergency stop takes two steps: the first POST only asks to confirm.
    confirmed = forms.BooleanField(required=False)


class RollbackForm(forms.Form):
    version = forms.IntegerField(min_value=1)


class DiffForm(forms.Form):
    a = forms.IntegerField(min_value=1, required=False, label="From version")
    b = forms.IntegerField(min_value=1, required=False, label="To version")


class LedgerFilterForm(forms.Form):
    """Filters shared by the orders and fills tables. Times are UTC."""

    bot = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    symbol = forms.CharField(
        required=False, max_length=20, widget=forms.TextInput(attrs={"placeholder": "e.g. BTCUSDT"})
    )
    side = forms.ChoiceField(choices=ANY + list(Side.choices), required=False)
    since = forms.DateTimeField(
        required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="Until (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: Any, bots: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["bot"].choices = ANY + bots

    def clean_symbol(self) -> str:
        return self.cleaned_data["symbol"].strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            raise forms.ValidationError("The start of the time range must come before its end.")
        return data

    def filters(self) -> dict[str, Any] | None:
        """The filters to apply, or None when the form has errors: the page then
        says which field is wrong instead of showing rows nobody asked for."""
        if not self.is_valid():
            return None
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


class OrderFilterForm(LedgerFilterForm):
    status = forms.ChoiceField(choices=ANY + list(Order.Status.choices), required=False)

    field_order = ["bot", "symbol", "side", "status", "since", "until"]


# --- the scheduler ----------------------------------------------------------------

ON_OFF = [("on", "On"), ("off", "Off")]


class SchedulerSwitchForm(forms.Form):
    enabled = forms.ChoiceField(choices=ON_OFF)

    def switch(self) -> bool:
        return self.cleaned_data["enabled"] == "on"


class BotScheduleForm(forms.Form):
    """One change to a bot's schedule: its switch, an interval, or back to its timeframe."""

    enabled = forms.ChoiceField(choices=ON_OFF, required=False)
    interval = forms.IntegerField(
        required=False,
        min_value=scheduling.MIN_INTERVAL_SECONDS,
        max_value=scheduling.MAX_INTERVAL_SECONDS,
        label="Seconds between cycles",
    )
    follow_timeframe = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        if data.get("enabled") in (None, "") and data.get("interval") is None and not data.get("follow_timeframe"):
            raise forms.ValidationError("Say what to change: switch the bot on or off, or give an interval.")
        return data

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for ``scheduling.bot_set_schedule``."""
        data = self.cleaned_data
        return {
            "enabled": None if not data.get("enabled") else data["enabled"] == "on",
            "interval": None if data.get("follow_timeframe") else data.get("interval"),
            "clear_interval": bool(data.get("follow_timeframe")),
        }


# --- backtests ----------------------------------------------------------------------

SIZING_CHOICES = [("fraction", "A fraction of equity"), ("fixed_quote", "A fixed amount of the quote asset")]
UTC_INPUT = {"type": "datetime-local"}


def param_field_name(strategy: str, param: str) -> str:
    return f"{strategy}__{param}"


class BacktestForm(forms.Form):
    """A backtest to queue: strategy and its parameters (every strategy's, so the
    form works without JavaScript; only the chosen one's are read), market,
    range, costs and sizing. ``backtest_request`` checks it all again."""

    strategy = forms.ChoiceField()
    symbol = forms.RegexField(
        r"^[A-Za-z0-9]{2,20}$", max_length=20, initial="BTCUSDT",
        widget=forms.TextInput(attrs={"list": "cached-symbols", "autocomplete": "off"}),
        error_messages={"invalid": "A Binance symbol: 2 to 20 letters or digits, such as BTCUSDT."},
    )
    timeframe = forms.ChoiceField(choices=[(tf, tf) for tf in TIMEFRAME_SECONDS], initial="1h")
    start = forms.DateTimeField(required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs=UTC_INPUT))
    end = forms.DateTimeField(required=False, label="Until (UTC)", widget=forms.DateTimeInput(attrs=UTC_INPUT))
    initial_cash = forms.DecimalField(
        min_value=Decimal("1"), max_value=Decimal("1000000000"), max_digits=24, decimal_places=8,
        initial=Decimal("10000"), label="Starting cash",
    )
    fee_bps = forms.DecimalField(
        min_value=Decimal("0"), max_value=Decimal("1000"), max_digits=8, decimal_places=4,
        label="Fee (basis points)", help_text="10 = 0.1 % per fill",
    )
    slippage_bps = forms.DecimalField(
        min_value=Decimal("0"), max_value=Decimal("1000"), max_digits=8, decimal_places=4,
        label="Slippage (basis points)",
    )
    sizing_mode = forms.ChoiceField(choices=SIZING_CHOICES, initial="fraction", label="Size each buy as")
    fraction_of_equity = forms.DecimalField(
        min_value=Decimal("0.001"), max_value=Decimal("1"), max_digits=6, decimal_places=4,
        initial=Decimal("0.1"), label="Fraction of equity", help_text="0.1 = 10 %",
    )
    fixed_quote = forms.DecimalField(
        min_value=Decimal("1"), max_value=Decimal("1000000"), max_digits=16, decimal_places=8,
        initial=Decimal("1000"), label="Fixed amount",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.conf import settings

        from trading.strategies.registry import list_strategies

        super().__init__(*args, **kwargs)
        self.strategies = list_strategies()
        self.fields["strategy"].choices = [(s.name, s.label) for s in self.strategies]
        self.fields["strategy"].initial = self.strategies[0].name
        self.fields["fee_bps"].initial = settings.PAPER_FEE_BPS
        self.fields["slippage_bps"].initial = settings.PAPER_SLIPPAGE_BPS
        for strategy in self.strategies:
            for spec in strategy.params_schema:
                field_class = forms.IntegerField if spec.type is int else forms.FloatField
                attrs = {"step": "1" if spec.type is int else "any"}
                self.fields[param_field_name(strategy.name, spec.name)] = field_class(
                    required=False, min_value=spec.minimum, max_value=spec.maximum, initial=spec.default,
                    label=spec.name, help_text=f"{spec.description} ({spec.minimum} to {spec.maximum})",
                    widget=forms.NumberInput(attrs=attrs),
                )

    def param_groups(self) -> list[tuple[Any, list[forms.BoundField]]]:
        """Each strategy with its parameter fields, for one fieldset each."""
        return [
            (strategy, [self[param_field_name(strategy.name, spec.name)] for spec in strategy.params_schema])
            for strategy in self.strategies
        ]

    def clean_symbol(self) -> str:
        return self.cleaned_data["symbol"].upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", "The end of the range must not come before its start.")
        return data

    def request(self) -> dict[str, Any]:
        """Keyword arguments for ``backtest_request`` (params left blank take their defaults)."""
        data = self.cleaned_data
        strategy = next(s for s in self.strategies if s.name == data["strategy"])
        params = {}
        for spec in strategy.params_schema:
            value = data.get(param_field_name(strategy.name, spec.name))
            if value is not None:
                params[spec.name] = value
        return {
            "strategy": strategy.name,
            "params": params,
            "symbol": data["symbol"],
            "timeframe": data["timeframe"],
            "start": data.get("start"),
            "end": data.get("end"),
            "initial_cash": data["initial_cash"],
            "fee_bps": data["fee_bps"],
            "slippage_bps": data["slippage_bps"],
            "risk_limits": {
                "sizing_mode": data["sizing_mode"],
                "fraction_of_equity": str(data["fraction_of_equity"]),
                "fixed_quote": str(data["fixed_quote"]),
            },
        }

    def add_service_errors(self, field_errors: dict[str, str]) -> None:
        """Put ``backtest_request``'s field errors on the fields that hold them."""
        strategy = self.cleaned_data.get("strategy", "")
        for key, message in field_errors.items():
            name = key
            if key.startswith("strategy_params."):
                name = param_field_name(strategy, key.split(".", 1)[1])
            elif key.startswith("risk_limits."):
                name = key.split(".", 1)[1]
            if name in self.fields:
                self.add_error(name, message[:1].upper() + message[1:])
            else:
                self.add_error(None, f"{key}: {message}")
