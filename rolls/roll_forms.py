"""The forms of the roll checklist page. They read what the operator typed; the service judges it.

What they accept is bounded first (DECISIONS.md section 11): prices plausible for VIX and VX and
fitting their column, a time within the date bounds and not in the future, a plausible quantity.
Each refusal is an error on its field.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms

from dspops.core import bounds, clock
from dspops.core.errors import OperatorError
from rolls.roll_service import ManualQuote

NEW_YORK_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]


class PageInputError(OperatorError):
    """What the operator typed cannot be used. The message says which field and why."""


def raise_for_errors(form: forms.Form, what: str) -> None:
    if form.is_valid():
        return
    problems = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        problems.append(f"{label or name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors))
    raise PageInputError(f"{what}: " + "; ".join(problems) + ". Nothing was saved.")


def _price(label: str, required: bool = False, min_value: Decimal | None = None) -> forms.DecimalField:
    return forms.DecimalField(label=label, required=required, max_digits=bounds.PRICE_DIGITS[0],
                              decimal_places=bounds.PRICE_DIGITS[1], min_value=min_value,
                              widget=forms.NumberInput(attrs={"step": "0.01", "size": 8}))


class BoundedForm(forms.Form):
    """A form whose fields named in ``kinds`` (field -> bounds.PLAUSIBLE kind) are plausible values, and whose
    ``moments`` fields are execution times: within the date bounds and not in the future."""

    kinds: dict[str, str] = {}
    moments: tuple[str, ...] = ()

    def kind_of(self, name: str) -> str | None:
        return self.kinds.get(name)

    def clean(self):
        cleaned = super().clean()
        checks = []
        for name, value in cleaned.items():
            kind = self.kind_of(name)
            if value is None or name not in self.fields:
                continue
            if kind is not None:
                label = self.fields[name].label or name
                checks.append((name, lambda value=value, label=label, kind=kind: bounds.check_plausible(
                    value, label, kind, digits=bounds.QUANTITY_DIGITS if kind == "quantity" else bounds.PRICE_DIGITS)))
            elif name in self.moments:
                checks.append((name, lambda value=value: bounds.check_execution_time(value, clock.now(), "the time")))
        for name, errors in bounds.field_errors(checks).items():
            for error in errors:
                self.add_error(name, error)
        return cleaned


def _quote(label: str) -> forms.DecimalField:
    # A quote is never negative (IBKR's -1 means "no price"; leave the field blank instead). Zero
    # gets through, and the checks fail it with their own reason.
    return _price(label, min_value=Decimal("0"))


class ManualQuoteForm(BoundedForm):
    """Bid and ask for each of the roll's three legs, and VIX, typed from another screen.

    A leg left blank has no quote (its checks fail and its combo gets no ticket).
    """

    vix = _quote("VIX")
    read_broker = forms.BooleanField(
        label="Read positions and margin from the broker (the quotes stay as typed)", required=False)

    def __init__(self, *args, legs: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.legs = list(legs)
        for symbol in self.legs:
            self.fields[f"bid_{symbol}"] = _quote(f"{symbol} bid")
            self.fields[f"ask_{symbol}"] = _quote(f"{symbol} ask")

    def kind_of(self, name: str) -> str | None:
        return "vix" if name == "vix" else "vx_future" if name.startswith(("bid_", "ask_")) else None

    def leg_fields(self):
        return [(symbol, self[f"bid_{symbol}"], self[f"ask_{symbol}"]) for symbol in self.legs]

    def manual_quotes(self) -> dict[str, ManualQuote]:
        typed = {}
        for symbol in self.legs:
            bid, ask = self.cleaned_data.get(f"bid_{symbol}"), self.cleaned_data.get(f"ask_{symbol}")
            if bid is not None or ask is not None:
                typed[symbol] = ManualQuote(bid, ask)
        return typed

    def manual_vix(self) -> Decimal | None:
        return self.cleaned_data.get("vix")


class LegFillForm(BoundedForm):
    """One fill of one leg; the ticket, contract and side are fixed by the leg the form belongs to."""

    kinds = {"quantity": "quantity", "price": "vx_future"}
    moments = ("executed_at",)

    quantity = forms.IntegerField(label="quantity", widget=forms.NumberInput(attrs={"size": 4}))
    price = _price("price", required=True)
    executed_at = forms.DateTimeField(label="time (New York)", input_formats=NEW_YORK_FORMATS,
                                      widget=forms.TextInput(attrs={"size": 19,
                                                                    "placeholder": "YYYY-MM-DD HH:MM:SS"}))
    confirm = forms.BooleanField(
        label="I checked it: the price is right even though it is far from the quote or the limit", required=False,
        help_text="Needed only when dspops warns about the price; the warnings are stored with the fill.")
    # The warnings the page showed with the confirmation (JSON list): a confirmation covers only these.
    warnings_shown = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, asked: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # The warnings the previous POST raised: only then is the confirmation box shown.
        self.asked = list(asked or [])
        if self.asked:
            self.initial["warnings_shown"] = json.dumps(self.asked)

    def shown_warnings(self) -> list[str]:
        """The warnings posted back as shown; unreadable means none shown (the confirmation covers nothing)."""
        try:
            shown = json.loads(self.cleaned_data.get("warnings_shown") or "[]")
        except ValueError:
            return []
        return [str(w) for w in shown] if isinstance(shown, list) else []


class ReverseLegFillForm(forms.Form):
    """Take back one recorded leg fill (it was typed wrong); it can then be recorded again."""

    leg_fill = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label="why", max_length=300, widget=forms.TextInput(attrs={"size": 40}))


class VerifyForm(BoundedForm):
    """The new config's levels; blank means entry x the default multiples."""

    kinds = {"stop_loss_spread": "vx_spread", "take_profit_spread": "vx_spread"}

    stop_loss_spread = _price("stop-loss spread")
    take_profit_spread = _price("take-profit spread")


class AbortForm(forms.Form):
    why = forms.CharField(label="why the roll is aborted", widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    reverse_fills = forms.BooleanField(
        label="Reverse every fill this roll recorded (they never happened at the broker)", required=False)
