from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django_q import admin as django_q_admin

from dspops.core import bounds, clock
from dspops.core.admin_display import BoundedAdminMixin, UnreadableRowsMixin, YearDateFilter, unreadable_rows
from dspops.core.broker.errors import GatewayError
from dspops.core.admin_widgets import KeyCheckingAutocompleteMixin
from dspops.core.models import BrokerSnapshot, Instrument, QuoteSnapshot

# django-q2's "resubmit" action queues a finished task again (and deletes a failure's record). It asks for
# no permission, so a Viewer could start work from the task lists; it now needs the change permission.
django_q_admin.resubmit_task.allowed_permissions = ("change",)
# Its task lists filter by date like ours: a date outside the bounds in the query string
# (?started__year=9999) is an invalid lookup there too, and a task id with a NUL in it (which PostgreSQL
# refuses) names no task: neither is a server error.
for _django_q_admin in (django_q_admin.TaskAdmin, django_q_admin.FailAdmin, django_q_admin.ScheduleAdmin,
                        django_q_admin.QueueAdmin):
    _django_q_admin.get_changelist = BoundedAdminMixin.get_changelist
    _django_q_admin.get_object = lambda self, request, object_id, from_field=None: None if "\x00" in str(
        object_id) else admin.ModelAdmin.get_object(self, request, object_id, from_field)


def raise_field_errors(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


class InstrumentForm(forms.ModelForm):
    """An instrument's dates and numbers within dspops.core.bounds (a future settling in 9999 is refused)."""

    class Meta:
        model = Instrument
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        from dspops.core import calendars

        def settles(value):
            bounds.check_date(value, "Settlement date")
            if not calendars.in_window(value):
                raise bounds.OutOfBounds(f"settlement date {value} is outside the exchange calendar dspops counts "
                                         f"sessions in ({calendars.CALENDAR_START} to {calendars.CALENDAR_END})")

        def month(value):
            from dspops.core import vx

            year, _, number = value.partition("-")
            if not (len(year) == 4 and year.isdigit() and len(number) == 2 and number.isdigit()
                    and 1 <= int(number) <= 12):
                raise bounds.OutOfBounds(f"contract month {value!r} is not YYYY-MM")
            bounds.check_date(date(int(year), int(number), 1), "Contract month")
            try:  # its settlement and roll-by are counted in CFE sessions
                vx.contract_dates(vx.ContractMonth.from_label(value))
            except ValueError as exc:  # CalendarRangeError is a ValueError
                raise bounds.OutOfBounds(f"contract month {value}: {exc}") from None

        def positive(value, label, high):
            if not 0 < value <= high:
                raise bounds.OutOfBounds(f"{label} {value} must be above 0 and at most {high}")

        def multiplier(value):  # the same range the gateway and the fill importers accept
            if bounds.check_plausible(value, "multiplier", "multiplier") <= 0:
                raise bounds.OutOfBounds(f"multiplier {value} must be above 0")

        checks = {
            "settlement_date": lambda v: settles(v),
            "contract_month": lambda v: month(v),
            "multiplier": multiplier,
            "min_tick": lambda v: positive(v, "minimum tick", 1000),
            "con_id": lambda v: positive(v, "conId", 2**63 - 1),
        }
        raise_field_errors(bounds.field_errors(
            (name, (lambda check=check, value=cleaned[name]: check(value)))
            for name, check in checks.items() if cleaned.get(name) not in (None, "")))
        return cleaned


class QuoteSnapshotForm(forms.ModelForm):
    """A typed quote: prices plausible for the instrument and fitting their column, observed in the past."""

    class Meta:
        model = QuoteSnapshot
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        instrument = cleaned.get("instrument")
        kind = bounds.price_kind(instrument.sec_type) if instrument is not None else "stock_price"
        checks = [(name, (lambda name=name: bounds.check_plausible(cleaned[name], name.capitalize(), kind)))
                  for name in ("bid", "ask", "last", "close") if cleaned.get(name) is not None]
        if cleaned.get("as_of") is not None:
            checks.append(("as_of", lambda: bounds.check_execution_time(cleaned["as_of"], clock.now(), "As of")))
        raise_field_errors(bounds.field_errors(checks))
        return cleaned


@admin.register(Instrument)
class InstrumentAdmin(BoundedAdminMixin, admin.ModelAdmin):
    form = InstrumentForm
    list_display = ("local_symbol", "symbol", "sec_type", "exchange", "currency", "multiplier",
                    "con_id", "contract_month", "settlement_date")
    list_filter = ("sec_type", "exchange", "currency")
    search_fields = ("symbol", "local_symbol", "=con_id", "description")
    ordering = ("sec_type", "symbol", "settlement_date")


@admin.register(QuoteSnapshot)
class QuoteSnapshotAdmin(KeyCheckingAutocompleteMixin, UnreadableRowsMixin, admin.ModelAdmin):
    form = QuoteSnapshotForm
    list_display = ("as_of", "instrument", "bid", "ask", "last", "close", "market_data_type", "source",
                    "valid", "invalid_reason")
    list_filter = (("as_of", YearDateFilter), "source", "valid", "market_data_type", "instrument__sec_type")
    search_fields = ("instrument__local_symbol", "instrument__symbol", "invalid_reason")
    list_select_related = ("instrument",)
    autocomplete_fields = ("instrument",)

    def has_change_permission(self, request, obj=None):
        return False  # an observed quote is a fact; record a new one instead


@admin.register(BrokerSnapshot)
class BrokerSnapshotAdmin(UnreadableRowsMixin, admin.ModelAdmin):
    """The broker as last read: account figures and positions, with a button to read it again."""

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
        from sleeves.models import MonitorRun, RunKind

        reconciliation = MonitorRun.objects.filter(kind=RunKind.RECONCILE).order_by("-started_at", "-id").first()
        outputs = reconciliation.outputs if reconciliation and isinstance(reconciliation.outputs, dict) else {}
        breaks = outputs.get("breaks") or []
        extra_context = {**(extra_context or {}), "latest": latest, "latest_positions": self.positions_table(latest)
                         if latest else "", "latest_quotes": quotes, "reconciliation": reconciliation,
                         "reconciliation_breaks": [b for b in breaks if isinstance(b, dict)]
                         if isinstance(breaks, list) else []}
        return super().changelist_view(request, extra_context)

    def reconcile_view(self, request):
        """Compare the broker's positions with the sleeves' fills now; breaks become alerts."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        from sleeves.reconcile import ReconcileError, reconcile

        try:
            report = reconcile(role="web", triggered_by="admin")
        except ReconcileError as exc:
            self.message_user(request, f"Nothing was reconciled: {exc}", messages.ERROR)
        else:
            if report.ok:
                self.message_user(request, f"Positions match the broker: {report.matched} contracts.")
            else:
                self.message_user(request, f"{len(report.breaks)} reconciliation break(s); each is a critical alert.",
                                  messages.ERROR)
        return HttpResponseRedirect(reverse("admin:dspops_brokersnapshot_changelist"))

    def refresh_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        # Imported here: the broker sync (and its types) is not needed to start a command or render a page.
        from dspops.core.broker_sync import refresh_broker_snapshot

        try:
            snapshot = refresh_broker_snapshot(role="web", requested_by=request.user.get_username())
        except GatewayError as exc:
            self.message_user(request, f"The broker could not be read; nothing was stored. {exc}", messages.ERROR)
        else:
            self.log_addition(request, snapshot, "Read from the broker")
            self.message_user(request, f"Read {len(snapshot.positions)} positions and the account from "
                                       f"{snapshot.account}" + (" (SIMULATED BROKER)." if snapshot.simulated else "."))
            for problem in getattr(snapshot, "problems", ()):
                self.message_user(request, f"An account figure is missing: {problem}.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:dspops_brokersnapshot_changelist"))
