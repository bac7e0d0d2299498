from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from dspops import clock
from rolls import vx
from rolls.models import RollCycle, SpreadPosition
from rolls.services import countdown, fill_spread_defaults, generate_roll_calendar
from rolls.flags import spread_position_flags


class SpreadPositionForm(forms.ModelForm):
    """Blank calendar fields come from the calendar, blank levels from the default multiples."""

    class Meta:
        model = SpreadPosition
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("entry_spread", "stop_loss_spread", "take_profit_spread", "settlement_date", "roll_by"):
            if name in self.fields:
                self.fields[name].required = False
        for name, hint in (("settlement_date", "Leave blank to take it from the calendar."),
                           ("roll_by", "Leave blank to take it from the calendar."),
                           ("stop_loss_spread", "Leave blank for entry x the default stop multiple (entry > 0 only)."),
                           ("take_profit_spread", "Leave blank for entry x the default TP multiple (entry > 0 only).")):
            if name in self.fields:
                self.fields[name].help_text = f"{self.fields[name].help_text} {hint}".strip()

    def _post_clean(self):
        # Fill the blanks on the instance before the model's own validation runs.
        from django.forms.models import construct_instance

        construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        fill_spread_defaults(self.instance)
        for name in ("entry_spread", "stop_loss_spread", "take_profit_spread", "settlement_date", "roll_by"):
            if self.cleaned_data.get(name) is None and getattr(self.instance, name) is not None:
                self.cleaned_data[name] = getattr(self.instance, name)
        if self.instance.entry_spread is not None and self.instance.entry_spread <= 0:
            for name in ("stop_loss_spread", "take_profit_spread"):
                if getattr(self.instance, name) is None:
                    self.add_error(name, "The entry spread is not positive: enter both the stop and the take-profit.")
        super()._post_clean()


@admin.register(SpreadPosition)
class SpreadPositionAdmin(SimpleHistoryAdmin):
    form = SpreadPositionForm
    list_display = ("__str__", "is_active", "quantity", "entry_date", "entry_spread", "stop_loss_spread",
                    "take_profit_spread", "settlement_date", "roll_by", "flags_display")
    list_filter = ("is_active", "sleeve")
    search_fields = ("short_leg__local_symbol", "long_leg__local_symbol", "note")
    list_select_related = ("sleeve", "short_leg", "long_leg")
    autocomplete_fields = ("short_leg", "long_leg")
    readonly_fields = ("flags_display",)
    fieldsets = (
        (None, {"fields": ("sleeve", "is_active", "short_leg", "long_leg", "quantity")}),
        ("Entry", {"fields": ("entry_date", "short_entry_price", "long_entry_price", "entry_spread")}),
        ("Exit levels (stop below entry, take-profit above it)", {"fields": ("stop_loss_spread", "take_profit_spread")}),
        ("Calendar (computed from the short leg; a hand edit is flagged)", {"fields": ("settlement_date", "roll_by", "flags_display")}),
        (None, {"fields": ("note",)}),
    )

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead; the history keeps every version

    @admin.display(description="flags")
    def flags_display(self, obj):
        if obj is None or obj.pk is None:
            return ""
        flags = spread_position_flags(obj, today=clock.trading_date())
        if not flags:
            return "none"
        return format_html("<br>".join(["{}"] * len(flags)), *flags)


@admin.register(RollCycle)
class RollCycleAdmin(SimpleHistoryAdmin):
    list_display = ("contract_month", "symbols", "settlement_date", "roll_by", "countdown_sessions",
                    "countdown_days", "planned_roll_by", "plan_flag")
    list_filter = ("sessions_before",)
    search_fields = ("contract_month", "plan_note")
    readonly_fields = ("contract_month", "settlement_date", "roll_by", "sessions_before", "generated_at")
    fields = ("contract_month", "settlement_date", "roll_by", "sessions_before", "planned_roll_by",
              "planned_settlement_date", "plan_note", "generated_at")
    actions = ["regenerate"]

    def has_add_permission(self, request):
        return False  # rows come from the calendar; use the regenerate action

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="close / open short / open long")
    def symbols(self, obj):
        close, open_short, open_long = vx.roll_plan(vx.ContractMonth.from_label(obj.contract_month))
        return f"{close.local_symbol()} / {open_short.local_symbol()} / {open_long.local_symbol()}"

    @admin.display(description="sessions to roll-by")
    def countdown_sessions(self, obj):
        sessions, _ = countdown(obj.roll_by)
        colour = "#b00" if sessions <= 0 else "#c60" if sessions <= 2 else "inherit"
        return format_html('<span style="color:{}">{}</span>', colour, sessions)

    @admin.display(description="calendar days")
    def countdown_days(self, obj):
        return countdown(obj.roll_by)[1]

    @admin.display(description="plan vs rule")
    def plan_flag(self, obj):
        if not obj.plan_differs:
            return "" if obj.planned_roll_by is None else "matches rule"
        parts = []
        if obj.planned_roll_by and obj.planned_roll_by != obj.roll_by:
            parts.append(f"planned roll-by {obj.planned_roll_by} ≠ rule {obj.roll_by}")
        if obj.planned_settlement_date and obj.planned_settlement_date != obj.settlement_date:
            parts.append(f"planned settlement {obj.planned_settlement_date} ≠ rule {obj.settlement_date}")
        return format_html('<strong style="color:#b00">{}</strong>', "; ".join(parts))

    @admin.action(description="Regenerate the roll calendar for the selected years", permissions=["change"])
    def regenerate(self, request, queryset):
        years = sorted({int(label[:4]) for label in queryset.values_list("contract_month", flat=True)})
        if not years:
            years = [clock.trading_date().year]
        result = generate_roll_calendar(from_year=years[0], to_year=years[-1])
        for cycle in queryset:
            self.log_change(request, cycle, "Regenerated from the calendar rule")
        self.message_user(
            request,
            f"Roll calendar {years[0]}–{years[-1]}: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged; {len(result.flagged)} plan(s) differ from the rule.",
            messages.WARNING if result.flagged else messages.SUCCESS,
        )
