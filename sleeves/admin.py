import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from dspops.core import bounds, calendars, clock, formats
from dspops.core.admin_display import (ReadOnlyAdmin, UnreadableRowsMixin, YearDateFilter, mapping_table, moment_display,
                                       unreadable_rows)
from dspops.core.broker_sync import refresh_broker_snapshot
from dspops.core.errors import OperatorError
from dspops.core.models import BrokerSnapshot, Instrument, QuoteSnapshot, SecType
from dspops.core.admin_history import GuardedHistoryAdmin
from dspops.core.admin_widgets import KeyCheckingAutocompleteMixin
from sleeves import parameters
from sleeves.fill_import import attribute_fill
from sleeves.models import (
    DmTarget,
    Fill,
    FillSource,
    LegacyTrade,
    MonitorRun,
    PriceBar,
    SignalState,
    Sleeve,
    SleeveCode,
    SleeveParameter,
    SleevePosition,
    VolTargetState,
    VrpCsLogEntry,
    VrpErpLogEntry,
)
from sleeves.reconcile import reconcile
from sleeves.selectors import latest_reconciliation, positions_by_sleeve, watched_instruments
from sleeves.services import reverse_fill


def _cross_check(scope: str, sleeve, changed: dict[str, str]) -> None:
    """Validate a whole settings scope with some values changed; raise a form error if invalid."""
    texts = dict(SleeveParameter.objects.filter(sleeve=sleeve).values_list("key", "value"))
    texts.update(changed)
    try:
        parameters.parse_settings(scope, texts)
    except parameters.ParameterError as exc:
        raise ValidationError(str(exc).splitlines()) from None


class SleeveParameterForm(forms.ModelForm):
    class Meta:
        model = SleeveParameter
        fields = ("value",)

    def clean(self):
        cleaned = super().clean()
        if "value" in cleaned and self.instance.key:
            _cross_check(self.instance.scope, self.instance.sleeve, {self.instance.key: cleaned["value"]})
        return cleaned


class SleeveParameterFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        changed = {f.instance.key: f.instance.value for f in self.forms if f.is_valid() and f.has_changed()}
        if changed:
            _cross_check(self.instance.code, self.instance, changed)


class SleeveParameterInline(admin.TabularInline):
    model = SleeveParameter
    formset = SleeveParameterFormSet
    extra = 0
    fields = ("key", "value", "meaning", "updated_at")
    readonly_fields = ("key", "meaning", "updated_at")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # the set of settings is fixed by the registry; bootstrap creates them

    @admin.display(description="meaning")
    def meaning(self, obj):
        try:
            item = obj.spec
        except parameters.ParameterError:
            return "unknown setting"
        unit = f" ({item.unit})" if item.unit else ""
        return f"{item.description}{unit}"


@admin.register(Sleeve)
class SleeveAdmin(GuardedHistoryAdmin):
    list_display = ("code", "name", "enabled", "order_ref_prefix")
    list_filter = ("enabled",)
    search_fields = ("code", "name")
    readonly_fields = ("code",)
    inlines = [SleeveParameterInline]

    def has_add_permission(self, request):
        return False  # the three sleeves come from bootstrap

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        urls = [
            path("positions/", self.admin_site.admin_view(self.positions_view), name="sleeves_positions"),
        ]
        return urls + super().get_urls()

    def positions_view(self, request):
        context = {
            **self.admin_site.each_context(request),
            "title": "Positions by sleeve (from recorded fills)",
            "positions": positions_by_sleeve(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/sleeves/positions.html", context)


@admin.register(SleeveParameter)
class SleeveParameterAdmin(GuardedHistoryAdmin):
    form = SleeveParameterForm
    list_display = ("key", "scope_label", "value", "meaning", "updated_at")
    list_filter = ("sleeve",)
    search_fields = ("key", "value")
    list_select_related = ("sleeve",)
    readonly_fields = ("sleeve", "key", "meaning")
    fields = ("sleeve", "key", "meaning", "value")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="scope", ordering="sleeve__code")
    def scope_label(self, obj):
        return obj.sleeve.code if obj.sleeve_id else "Book-wide"

    @admin.display(description="meaning")
    def meaning(self, obj):
        try:
            item = obj.spec
        except parameters.ParameterError:
            return "unknown setting"
        return f"{item.description}" + (f" ({item.unit})" if item.unit else "")


# --- "Are you sure?" on a typed fill (DECISIONS.md section 11; issue 13 item 9) --------------------------


def _setting(scope: str, key: str):
    """One typed setting, read fresh. Raises parameters.ParameterError when it is missing or invalid: a check
    that cannot read its setting says so (it is never skipped, never given a default)."""
    rows = SleeveParameter.objects.filter(key=key)
    rows = rows.filter(sleeve__isnull=True) if scope == parameters.BOOK else rows.filter(sleeve__code=scope)
    text = rows.values_list("value", flat=True).first()
    if text is None:
        raise parameters.ParameterError(f"{scope} is missing the setting {key!r}")
    return parameters.spec(scope, key).parse(text)


def _universe_warning(sleeve: Sleeve, instrument: Instrument) -> str | None:
    """The instrument is not one the sleeve holds: DM its ETFs, VRP-ERP its symbol, VRP-CS futures of its root."""
    try:
        if sleeve.code == SleeveCode.DM:
            symbols = (*_setting("DM", "risky_universe"), _setting("DM", "cash_symbol"))
            held = instrument.sec_type == SecType.STOCK and instrument.symbol.upper() in symbols
            universe = f"the DM universe ({', '.join(symbols)}: the risky_universe and cash_symbol settings)"
        elif sleeve.code == SleeveCode.VRP_ERP:
            symbol = _setting("VRP_ERP", "symbol")
            held = instrument.sec_type == SecType.STOCK and instrument.symbol.upper() == symbol
            universe = f"VRP-ERP's instrument ({symbol}, the symbol setting)"
        elif sleeve.code == SleeveCode.VRP_CS:
            root = _setting("VRP_CS", "contract_root")
            held = instrument.sec_type == SecType.FUTURE and instrument.symbol.upper() == root
            universe = f"VRP-CS's {root} futures (the contract_root setting)"
        else:
            return f"{sleeve} has no universe dspops knows: check the sleeve."
    except parameters.ParameterError as exc:
        return (f"Whether {instrument} belongs to {sleeve.code} cannot be checked ({exc}): check the sleeve and the "
                "instrument.")
    if held:
        return None
    return (f"{instrument} ({instrument.get_sec_type_display()}) is not in {universe}: recorded in {sleeve.code}, it "
            f"counts as a {sleeve.code} holding. Check the sleeve and the instrument.")


def _session_warning(instrument: Instrument, executed_at: datetime) -> str | None:
    """The execution's New York date is not a session of the instrument's exchange (CFE for futures, else NYSE)."""
    exchange, name = (calendars.CFE, "CFE") if instrument.is_future else (calendars.NYSE, "NYSE")
    day = calendars.trading_date(executed_at)
    try:
        if calendars.is_session(day, exchange=exchange):
            return None
    except calendars.CalendarRangeError as exc:
        return f"Whether {day} was a {name} session cannot be checked ({exc}): check the execution date."
    return (f"{formats.day(day)} is not a {name} session (the exchange was closed): check the date TWS shows for "
            "the execution.")


def _fraction_warning(instrument: Instrument, quantity: Decimal) -> str | None:
    if instrument.sec_type not in (SecType.STOCK, SecType.FUTURE) or quantity == quantity.to_integral_value():
        return None
    unit = "shares" if instrument.sec_type == SecType.STOCK else "contracts"
    return (f"{formats.quantity(quantity)} {unit} of {instrument} is a fraction: IBKR fills these in whole {unit}. "
            "Check the quantity.")


def _readable(model):
    rows = model.objects.all()
    unreadable = unreadable_rows(model)
    return rows.exclude(unreadable) if unreadable is not None else rows


def last_stored_price(instrument: Instrument, executed_at: datetime) -> tuple[Decimal, str] | None:
    """The latest stored price of `instrument` at or before the execution, else the latest at all: a valid
    quote (last, else the bid/ask mid, else its close) or a daily close, whichever is newer; with what it is.
    None when nothing is stored."""
    candidates = []
    quotes = _readable(QuoteSnapshot).filter(instrument=instrument, valid=True).filter(
        Q(last__gt=0) | (Q(bid__gt=0) & Q(ask__gt=0)) | Q(close__gt=0))
    quote = quotes.filter(as_of__lte=executed_at).order_by("-as_of").first() or quotes.order_by("-as_of").first()
    if quote is not None:
        if quote.last is not None and quote.last > 0:
            price, kind = quote.last, "last"
        elif quote.bid and quote.ask and quote.bid > 0 and quote.ask > 0:
            price, kind = (quote.bid + quote.ask) / 2, "bid/ask mid"
        else:
            price, kind = quote.close, "close"
        candidates.append((calendars.trading_date(quote.as_of), price, f"quote {kind}, {formats.moment(quote.as_of)}"))
    bars = _readable(PriceBar).filter(instrument=instrument)
    bar = (bars.filter(session__lte=calendars.trading_date(executed_at)).order_by("-session").first()
           or bars.order_by("-session").first())
    if bar is not None:
        candidates.append((bar.session, bar.close, f"daily close of {formats.day(bar.session)}"))
    if not candidates:
        return None
    _, price, what = max(candidates, key=lambda c: c[0])
    return price, what


def _price_warning(instrument: Instrument, price: Decimal, executed_at: datetime) -> str | None:
    """The price further than fill_price_warning_pct from the last stored price, or with no stored price to
    compare with (a check that cannot be made fails)."""
    reference = last_stored_price(instrument, executed_at)
    if reference is None:
        return (f"No stored quote or daily close for {instrument}: the price {formats.price(price)} cannot be "
                "compared with the market. Check it against TWS: per share or per point, not the total.")
    last, what = reference
    try:
        allowed = _setting(parameters.BOOK, "fill_price_warning_pct")
    except parameters.ParameterError as exc:
        return (f"The price {formats.price(price)} cannot be compared with the last stored price of {instrument} "
                f"({formats.price(last)}, {what}): {exc}. Check the price.")
    distance = abs(price - last) / last * 100
    if distance <= allowed:
        return None
    direction = "above" if price > last else "below"
    return (f"{instrument} at {formats.price(price)} is {formats.percent(distance)} {direction} its last stored price "
            f"{formats.price(last)} ({what}), more than the {formats.quantity(allowed)}% the fill_price_warning_pct "
            "setting allows. Check the price: per share or per point, not the total.")


def fill_warnings(*, sleeve: Sleeve | None, instrument: Instrument, quantity: Decimal, price: Decimal,
                  executed_at: datetime) -> list[str]:
    """What the operator must confirm before a typed fill is recorded, in the operator's words: an instrument
    outside the sleeve's universe, a date that is not a session, a fractional quantity, a price far from the
    last stored one or with no stored price to compare with.
    """
    warnings = [
        sleeve and _universe_warning(sleeve, instrument),
        _session_warning(instrument, executed_at),
        _fraction_warning(instrument, quantity),
        _price_warning(instrument, price, executed_at),
    ]
    return [w for w in warnings if w]


CONFIRM_LABEL = "I have checked these"


class FillForm(forms.ModelForm):
    # Shown only with warnings (a hidden input otherwise); the warnings it confirms travel with the form, so a
    # confirmation never covers a warning the operator has not seen.
    confirm_warnings = forms.BooleanField(
        required=False, label=CONFIRM_LABEL, widget=forms.HiddenInput,
        help_text="The fill is recorded with the warnings listed above, word for word.")
    warnings_shown = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Fill
        fields = ("sleeve", "instrument", "side", "quantity", "price", "commission", "executed_at",
                  "exec_id", "order_ref", "note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.warnings: list[str] = []

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return  # the hard errors first; the warnings come once the fill is otherwise valid
        data = self.cleaned_data
        self.warnings = fill_warnings(
            sleeve=data.get("sleeve"), instrument=data["instrument"], quantity=data["quantity"], price=data["price"],
            executed_at=data["executed_at"])
        try:
            shown = json.loads(data.get("warnings_shown") or "[]")
        except ValueError:
            shown = []
        shown = shown if isinstance(shown, list) else []
        if self.warnings and not (data.get("confirm_warnings") and set(self.warnings) <= set(shown)):
            self._ask_to_confirm()
            return
        self.instance.confirmed_warnings = self.warnings

    def _ask_to_confirm(self):
        """List the warnings and show the checkbox (unticked) that confirms exactly these."""
        self.data = self.data.copy()
        self.data[self.add_prefix("warnings_shown")] = json.dumps(self.warnings)
        self.data.pop(self.add_prefix("confirm_warnings"), None)
        self.fields["confirm_warnings"].widget = forms.CheckboxInput()
        self.add_error(None, [*self.warnings, f"Nothing was recorded. Tick '{CONFIRM_LABEL}' and save again "
                                              "to record the fill as it is, or correct it."])

    def clean_quantity(self):
        quantity = self.cleaned_data["quantity"]
        if quantity is not None and quantity <= 0:
            raise forms.ValidationError(
                "The quantity must be positive; the side (BUY or SELL) gives the direction."
            )
        return quantity

    def clean_price(self):
        price = self.cleaned_data["price"]
        if price is not None and price <= 0:
            raise forms.ValidationError("The price must be above 0: a fill at 0 is not a real execution.")
        return price

    def clean_executed_at(self):
        executed_at = self.cleaned_data["executed_at"]
        if executed_at is None:
            return executed_at
        # A fill has happened. A time in the future is a typo, and so is one before the bounds: a fill
        # dated 9999-12-31 or 0001-01-01 made the Fills page fail for everyone.
        if executed_at > clock.now() + bounds.CLOCK_SKEW:
            raise forms.ValidationError(
                f"{timezone.localtime(executed_at):%Y-%m-%d %H:%M} (New York) is in the future: enter the time "
                "TWS shows for the execution.")
        try:
            bounds.check_date(executed_at, "execution time")
        except bounds.OutOfBounds:
            raise forms.ValidationError(
                f"{executed_at.date()} is outside {bounds.EARLIEST_DATE} to {bounds.LATEST_DATE}: enter the time "
                "TWS shows for the execution.") from None
        return executed_at


@admin.register(Fill)
class FillAdmin(KeyCheckingAutocompleteMixin, GuardedHistoryAdmin):
    list_per_page = 50  # an operator reads the latest first; fewer rows keep the page fast
    form = FillForm
    list_display = ("executed_at", "sleeve", "instrument", "side", "quantity", "price", "commission",
                    "exec_id", "order_ref", "source", "entered_by", "reverses")
    # "before 2000" / "after 2100" list fills stored with an impossible date: reverse them (the action),
    # then record the fill again with the right time.
    list_filter = (("executed_at", YearDateFilter), "sleeve", "side", "source", "instrument__sec_type")
    search_fields = ("=exec_id", "order_ref", "instrument__local_symbol", "note")
    list_select_related = ("sleeve", "instrument", "entered_by", "reverses__instrument")
    autocomplete_fields = ("instrument",)
    actions = ["reverse_selected", "attribute_to_dm", "attribute_to_vrp_erp", "attribute_to_vrp_cs"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # The time through moment_display: a fill dated 0001-01-01 cannot be converted to New York time.
        shown = {"executed_at": "executed_at_shown", "confirmed_warnings": "confirmed_warnings_shown"}
        return [shown.get(f.name, f.name) for f in Fill._meta.fields]

    def get_fields(self, request, obj=None):
        # A recorded fill is shown, never edited: exactly its read-only fields (the view-only page would
        # otherwise take `executed_at` from the form and draw it with Django's own conversion).
        return super().get_fields(request, obj) if obj is None else self.get_readonly_fields(request, obj)

    @admin.display(description="executed at", ordering="executed_at")
    def executed_at_shown(self, obj):
        return moment_display(obj.executed_at, Fill._meta.get_field("executed_at"))

    @admin.display(description="warnings confirmed when entered")
    def confirmed_warnings_shown(self, obj):
        """Each warning the operator confirmed, as its text (a stored value that is not a list: as it is)."""
        warnings = obj.confirmed_warnings
        if not warnings:
            return "none"
        if not isinstance(warnings, list):
            return str(warnings)[:300]
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((str(w),) for w in warnings)))

    def has_change_permission(self, request, obj=None):
        return False  # never edited in place; see the reverse action

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            return fieldsets
        # The confirmation first, right under the warnings it confirms (hidden while there are none).
        confirm = ("confirm_warnings", "warnings_shown")
        rest = [name for name in fieldsets[0][1]["fields"] if name not in confirm]
        return [(None, {"fields": [*confirm, *rest]})]

    def save_model(self, request, obj, form, change):
        obj.source = FillSource.MANUAL
        obj.entered_by = request.user
        super().save_model(request, obj, form, change)
        if obj.confirmed_warnings:
            confirmed = formats.plural(len(obj.confirmed_warnings), "warning")
            self.message_user(request, f"Fill #{obj.pk} was recorded with {confirmed} you confirmed, stored with the "
                                       "fill.", messages.WARNING)

    @admin.action(description="Reverse the selected fills (then record the correct fill)", permissions=["add"])
    def reverse_selected(self, request, queryset):
        for fill in queryset:
            try:
                reversal = reverse_fill(fill=fill, user=request.user, reason="reversed from the admin")
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
                continue
            self.log_addition(request, reversal, f"Reversal of fill #{fill.pk}")
            self.message_user(request, f"Fill #{fill.pk} reversed by fill #{reversal.pk}.")

    def _attribute(self, request, queryset, code):
        sleeve = Sleeve.objects.get(code=code)
        for fill in queryset:
            try:
                attribute_fill(fill=fill, sleeve=sleeve, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"Fill #{fill.pk}: {'; '.join(exc.messages)}", messages.ERROR)
                continue
            self.log_change(request, fill, f"Attributed to {sleeve.code}")
            self.message_user(request, f"Fill #{fill.pk} attributed to {sleeve}.")

    @admin.action(description="Attribute the selected unattributed fills to DM", permissions=["add"])
    def attribute_to_dm(self, request, queryset):
        self._attribute(request, queryset, "DM")

    @admin.action(description="Attribute the selected unattributed fills to VRP-ERP", permissions=["add"])
    def attribute_to_vrp_erp(self, request, queryset):
        self._attribute(request, queryset, "VRP_ERP")

    @admin.action(description="Attribute the selected unattributed fills to VRP-CS", permissions=["add"])
    def attribute_to_vrp_cs(self, request, queryset):
        self._attribute(request, queryset, "VRP_CS")


def _stored_number(value, shown) -> str:
    """A number kept in a JSON field, through the formats module; anything else as the text it is
    (a damaged or hand-edited row is shown, never trusted to hold a number)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)[:60]
    return shown(number)


@admin.register(DmTarget)
class DmTargetAdmin(ReadOnlyAdmin):
    list_display = ("month", "session", "nav_shown", "weights_text", "ticket_count", "created_at", "created_by")
    list_filter = (("session", YearDateFilter),)
    search_fields = ("month",)
    fields = ("month", "session", "nav_shown", "weights_table", "shares_table", "tickets_table", "dropped_table",
              "run", "created_at", "created_by")
    readonly_fields = fields

    @admin.display(description="NAV", ordering="nav_usd")
    def nav_shown(self, obj):
        return formats.usd(obj.nav_usd)

    @admin.display(description="weights")
    def weights_text(self, obj):
        return ", ".join(f"{k} {_stored_number(v, lambda w: formats.percent(w, fraction=True))}"
                         for k, v in obj.weights.items())

    @admin.display(description="tickets")
    def ticket_count(self, obj):
        return len(obj.tickets)

    @admin.display(description="weights")
    def weights_table(self, obj):
        return mapping_table(obj.weights)

    @admin.display(description="target shares")
    def shares_table(self, obj):
        return mapping_table(obj.target_shares)

    @admin.display(description="tickets")
    def tickets_table(self, obj):
        return mapping_table({
            f"{t.get('side')} {t.get('symbol')}": f"{_stored_number(t.get('quantity'), formats.quantity)} @ "
            f"{_stored_number(t.get('price'), formats.price)} ({_stored_number(t.get('notional_usd'), formats.usd)})"
            for t in obj.tickets})

    @admin.display(description="dropped orders")
    def dropped_table(self, obj):
        return mapping_table({str(d.get("symbol")): d.get("reason") for d in obj.dropped})


@admin.register(MonitorRun)
class MonitorRunAdmin(ReadOnlyAdmin):
    list_per_page = 50  # an operator reads the latest first; fewer rows keep the page fast
    list_display = ("started_at", "kind", "sleeve", "trading_date", "status", "simulated", "short_reason",
                    "triggered_by")
    list_filter = (("started_at", YearDateFilter), "kind", "status", "simulated", "sleeve")
    search_fields = ("reason", "triggered_by")
    list_select_related = ("sleeve",)
    show_full_result_count = False
    fields = ("kind", "sleeve", "trading_date", "started_at", "finished_at", "status", "reason", "simulated",
              "triggered_by", "inputs_table", "sources_table", "outputs_table")
    readonly_fields = fields

    @admin.display(description="reason")
    def short_reason(self, obj):
        return (obj.reason[:80] + "…") if len(obj.reason) > 80 else obj.reason

    @admin.display(description="inputs")
    def inputs_table(self, obj):
        return mapping_table(obj.inputs)

    @admin.display(description="sources and as-of times")
    def sources_table(self, obj):
        return mapping_table(obj.sources)

    @admin.display(description="outputs")
    def outputs_table(self, obj):
        return mapping_table(obj.outputs)


@admin.register(VrpCsLogEntry)
class VrpCsLogEntryAdmin(ReadOnlyAdmin):
    list_display = ("logged_at", "trading_date", "data_status", "vix", "vx1", "vx2", "spread", "entry_spread",
                    "pnl_usd", "gate_state", "roll_by", "stop_loss_level", "take_profit_level",
                    "stop_loss_hit", "take_profit_hit", "flag_count", "source")
    list_filter = (("logged_at", YearDateFilter), "data_status", "source", "gate_state", "stop_loss_hit",
                   "take_profit_hit")
    search_fields = ("notes", "flags")
    show_full_result_count = False

    @admin.display(description="flags")
    def flag_count(self, obj):
        return len(obj.flags) or ""


@admin.register(VrpErpLogEntry)
class VrpErpLogEntryAdmin(ReadOnlyAdmin):
    list_display = ("logged_at", "trading_date", "data_status", "vix", "spy_price", "regime", "target_shares",
                    "actual_shares", "drift_pct", "rebalance_signal", "flag_count", "source")
    list_filter = (("logged_at", YearDateFilter), "data_status", "source", "regime", "rebalance_signal")
    search_fields = ("notes", "flags")
    show_full_result_count = False

    @admin.display(description="flags")
    def flag_count(self, obj):
        return len(obj.flags) or ""


@admin.register(VolTargetState)
class VolTargetStateAdmin(ReadOnlyAdmin):
    list_display = ("as_of_session", "multiplier", "realized_vol", "returns_used", "source", "computed_at")
    list_filter = (("as_of_session", YearDateFilter), "source")
    search_fields = ("note",)


@admin.register(PriceBar)
class PriceBarAdmin(ReadOnlyAdmin):
    list_display = ("session", "instrument", "open", "high", "low", "close", "volume", "source")
    list_filter = (("session", YearDateFilter), "source", "instrument")
    search_fields = ("instrument__symbol",)
    list_select_related = ("instrument",)
    show_full_result_count = False


@admin.register(SleevePosition)
class SleevePositionAdmin(ReadOnlyAdmin):
    """The positions table as the fills keep it (derived data: ``rebuild_positions --check`` compares it with the
    fills). The positions page shows the same books with their marks and P&L."""

    list_display = ("sleeve", "instrument", "quantity", "average_cost", "realized_pnl_points", "fill_count",
                    "commissions_usd", "commissions_missing", "last_executed_at")
    list_filter = ("sleeve",)
    list_select_related = ("sleeve", "instrument")
    ordering = ("sleeve__code", "instrument__sec_type", "instrument__local_symbol")


@admin.register(SignalState)
class SignalStateAdmin(GuardedHistoryAdmin):
    list_display = ("sleeve", "name", "state", "since_session", "pending_state", "pending_since",
                    "last_session", "score", "source")
    list_filter = ("sleeve", "name", "state")
    search_fields = ("state", "note")
    list_select_related = ("sleeve",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the monitors move it; its history shows every change

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LegacyTrade)
class LegacyTradeAdmin(ReadOnlyAdmin):
    list_display = ("logged_at", "action", "mode", "details_text", "flags")
    list_filter = (("logged_at", YearDateFilter), "action", "mode")
    search_fields = ("action",)

    @admin.display(description="details")
    def details_text(self, obj):
        return mapping_table(obj.details)


@admin.register(BrokerSnapshot)
class BrokerSnapshotAdmin(UnreadableRowsMixin, admin.ModelAdmin):
    """The broker as last read: account figures and positions, with buttons to read it again and to
    reconcile it with the sleeves' fills (so it lives here, above the kernel that holds the model)."""

    list_display = ("as_of", "account", "simulated", "net_liquidation", "excess_liquidity", "maint_margin_req",
                    "position_count", "requested_by")
    list_filter = (("as_of", YearDateFilter), "simulated", "account")
    search_fields = ("account",)
    fields = ("as_of", "account", "simulated", "net_liquidation", "excess_liquidity", "maint_margin_req",
              "available_funds", "total_cash_value", "currency", "positions_table", "requested_by")
    readonly_fields = fields
    change_list_template = "admin/dspops/brokersnapshot/change_list.html"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="positions")
    def position_count(self, obj):
        return len(obj.positions) if isinstance(obj.positions, list) else "?"

    @admin.display(description="positions")
    def positions_table(self, obj):
        # Stored JSON is shown as it is; a row that is not a position (from an older or damaged
        # snapshot) is shown as text, never trusted to have every key.
        positions = obj.positions if isinstance(obj.positions, list) else [obj.positions]

        def cells(p):
            if not isinstance(p, dict):
                return (str(p)[:200], "not a position", "", "", "")
            return tuple(str(p.get(key, "missing"))[:60] for key in (
                "local_symbol", "sec_type", "quantity", "avg_cost", "con_id"))

        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td class='num'>{}</td><td class='num'>{}</td>"
            "<td class='num'>{}</td></tr>", (cells(p) for p in positions),
        )
        return format_html(
            "<table class='dsp'><tr><th>contract</th><th>type</th><th>quantity</th><th>TWS avg cost</th>"
            "<th>conId</th></tr>{}</table>", rows)

    def get_urls(self):
        return [path("refresh/", self.admin_site.admin_view(self.refresh_view), name="dspops_brokersnapshot_refresh"),
                path("reconcile/", self.admin_site.admin_view(self.reconcile_view),
                     name="dspops_brokersnapshot_reconcile")] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        latest = self.get_queryset(request).order_by("-as_of", "-id").first()
        quotes = []
        if latest:
            readable = QuoteSnapshot.objects.all()
            if (unreadable := unreadable_rows(QuoteSnapshot)) is not None:
                readable = readable.exclude(unreadable)
            quotes = list(readable.filter(recorded_at__gte=latest.as_of - timedelta(minutes=5))
                          .select_related("instrument").order_by("instrument__sec_type", "instrument__local_symbol"))
        reconciliation, breaks = latest_reconciliation()
        extra_context = {**(extra_context or {}), "latest": latest, "latest_positions": self.positions_table(latest)
                         if latest else "", "latest_quotes": quotes, "reconciliation": reconciliation,
                         "reconciliation_breaks": breaks,
                         "reconciliation_status": self.reconciliation_status(reconciliation, breaks),
                         "book_positions": positions_by_sleeve()}
        return super().changelist_view(request, extra_context)

    @staticmethod
    def reconciliation_status(run, breaks: list[dict]) -> str:
        """The last reconciliation's status: its break count when it ran ("3 breaks"), never "OK" above breaks."""
        if run is None:
            return ""
        if run.status == "ok":
            return formats.plural(len(breaks), "break") if breaks else "OK: no breaks"
        return run.get_status_display()

    @method_decorator(require_POST)
    def reconcile_view(self, request):
        """Compare the broker's positions with the sleeves' fills now; breaks become alerts."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            report = reconcile(role="web", triggered_by="admin")
        except OperatorError as exc:  # ReconcileError: the broker could not be read
            self.message_user(request, f"Nothing was reconciled: {exc}", messages.ERROR)
        else:
            if report.ok:
                self.message_user(request, f"Positions match the broker: {report.matched} contracts.")
            else:
                self.message_user(request, f"{len(report.breaks)} reconciliation break(s); each is a critical alert.",
                                  messages.ERROR)
        return HttpResponseRedirect(reverse("admin:dspops_brokersnapshot_changelist"))

    @method_decorator(require_POST)
    def refresh_view(self, request):
        """Read the broker now and store what it said (a snapshot and its quotes)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            snapshot = refresh_broker_snapshot(instruments=watched_instruments(), role="web",
                                               requested_by=request.user.get_username())
        except OperatorError as exc:  # GatewayError: the broker could not be read
            self.message_user(request, f"The broker could not be read; nothing was stored. {exc}", messages.ERROR)
        else:
            self.log_addition(request, snapshot, "Read from the broker")
            self.message_user(request, f"Read {len(snapshot.positions)} positions and the account from "
                                       f"{snapshot.account}" + (" (SIMULATED BROKER)." if snapshot.simulated else "."))
            for problem in getattr(snapshot, "problems", ()):
                self.message_user(request, f"An account figure is missing: {problem}.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:dspops_brokersnapshot_changelist"))
