from datetime import date

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django_q import admin as django_q_admin

from dspops.core import bounds, calendars, clock, vx
from dspops.core.admin_display import BoundedAdminMixin, UnreadableRowsMixin, YearDateFilter
from dspops.core.admin_widgets import KeyCheckingAutocompleteMixin
from dspops.core.models import Instrument, QuoteSnapshot

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

        def settles(value):
            bounds.check_date(value, "Settlement date")
            if not calendars.in_window(value):
                raise bounds.OutOfBounds(f"settlement date {value} is outside the exchange calendar dspops counts "
                                         f"sessions in ({calendars.CALENDAR_START} to {calendars.CALENDAR_END})")

        def month(value):
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
