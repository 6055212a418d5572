"""The events log's filters. Times are UTC."""

from __future__ import annotations

from typing import Any

from django import forms


class EventFilterForm(forms.Form):
    # A dotted prefix: "trading.order" finds every order event.
    type = forms.CharField(
        required=False, max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. trading.order"})
    )
    actor = forms.CharField(
        required=False, max_length=150, widget=forms.TextInput(attrs={"placeholder": "e.g. operator"})
    )
    bot = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    since = forms.DateTimeField(
        required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="Until (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: Any, bots: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["bot"].choices = [("", "Any"), *bots]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            raise forms.ValidationError("The start of the time range must come before its end.")
        return data

    def filters(self) -> dict[str, Any] | None:
        if not self.is_valid():
            return None
        return {key: value for key, value in self.cleaned_data.items() if value not in (None, "")}
