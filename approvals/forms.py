"""The approvals page's one form: a decision and the note that explains it."""

from __future__ import annotations

from django import forms


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    note = forms.CharField(required=False, max_length=2000, strip=True)
