"""Forms of the dashboard pages: they parse input, the services act on it."""

from __future__ import annotations

from typing import Any

from django import forms

from trading.models import Order, Side, SystemState

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
