import re
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import construct_instance
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from dspops.core import clock, formats, vx
from dspops.core.admin_display import BoundedAdminMixin, ReadOnlyAdmin
from dspops.core.admin_history import GuardedHistoryAdmin
from dspops.core.admin_widgets import KeyCheckingAutocompleteMixin
from dspops.core.errors import OperatorError
from rolls import checks, roll_forms, roll_selectors, roll_service, roll_states, verification
from rolls.flags import spread_position_flags
from rolls.models import CheckResult, RollAttempt, RollCheck, RollCycle, RollLegFill, RollTransition
from rolls.roll_calendar import countdown, fill_spread_defaults, generate_roll_calendar
from rolls.roll_states import RollState
from sleeves.models import Sleeve, SleeveCode, SpreadPosition


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
        construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        if not self.instance.sleeve_id:  # the config is always VRP-CS's: the sleeve is not a choice in the form
            self.instance.sleeve = Sleeve.objects.filter(code=SleeveCode.VRP_CS).first()
            if self.instance.sleeve is None:
                self.add_error(None, "The VRP-CS sleeve does not exist yet: run bootstrap, then enter the config.")
                return
        if self.instance.short_leg_id and self.instance.long_leg_id and self.instance._reversed_legs():
            # One message for swapped legs (the model's); the calendar and levels taken from the wrong leg
            # would only add consequences of it.
            self.add_error(None, self.instance._reversed_legs())
            return
        try:
            fill_spread_defaults(self.instance)
        except ValueError as exc:  # the short leg's month is outside the calendar (CalendarRangeError)
            self.add_error("short_leg", f"Its settlement and roll-by cannot be computed: {exc}")
            return
        for name in ("entry_spread", "stop_loss_spread", "take_profit_spread", "settlement_date", "roll_by"):
            if self.cleaned_data.get(name) is None and getattr(self.instance, name) is not None:
                self.cleaned_data[name] = getattr(self.instance, name)
        if self.instance.entry_spread is not None and self.instance.entry_spread <= 0:
            for name in ("stop_loss_spread", "take_profit_spread"):
                if getattr(self.instance, name) is None:
                    self.add_error(name, "The entry spread is not positive: enter both the stop and the take-profit.")
        super()._post_clean()


@admin.register(SpreadPosition)
class SpreadPositionAdmin(KeyCheckingAutocompleteMixin, GuardedHistoryAdmin):
    form = SpreadPositionForm
    list_display = ("__str__", "is_active", "quantity", "entry_date", "entry_spread", "stop_loss_spread",
                    "take_profit_spread", "settlement_date", "roll_by", "flags_display")
    list_filter = ("is_active", "sleeve")
    search_fields = ("short_leg__local_symbol", "long_leg__local_symbol", "note")
    list_select_related = ("sleeve", "short_leg", "long_leg")
    autocomplete_fields = ("short_leg", "long_leg")
    # The sleeve is always VRP-CS (the model refuses any other): shown, never chosen.
    readonly_fields = ("sleeve_shown", "flags_display")
    fieldsets = (
        (None, {"fields": ("sleeve_shown", "is_active", "short_leg", "long_leg", "quantity")}),
        ("Entry", {"fields": ("entry_date", "short_entry_price", "long_entry_price", "entry_spread")}),
        ("Exit levels (stop below entry, take-profit above it)", {"fields": ("stop_loss_spread", "take_profit_spread")}),
        ("Calendar (computed from the short leg; a hand edit is flagged)", {"fields": ("settlement_date", "roll_by", "flags_display")}),
        (None, {"fields": ("note",)}),
    )

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead; the history keeps every version

    @admin.display(description="sleeve")
    def sleeve_shown(self, obj):
        if obj is not None and obj.sleeve_id:
            return str(obj.sleeve)
        return SleeveCode.VRP_CS.label

    @admin.display(description="flags")
    def flags_display(self, obj):
        if obj is None or obj.pk is None:
            return ""
        flags = spread_position_flags(obj, today=clock.trading_date())
        if not flags:
            return "none"
        return format_html("<br>".join(["{}"] * len(flags)), *flags)


@admin.register(RollCycle)
class RollCycleAdmin(GuardedHistoryAdmin):
    """The roll calendar. It opens on the months still to settle (the ones an operator plans for), not on the first
    January the calendar holds; the "settlement" filter shows the settled months, or all, on request (issue 15)."""

    class SettlementFilter(admin.SimpleListFilter):
        """Not yet settled (the default, when the address names no choice), settled, or all months.

        Django's own "All" choice would be the address without the parameter, which here means the default: so
        "All" is a choice of its own and this filter lists its choices itself.
        """

        title = "settlement"
        parameter_name = "settlement"
        DEFAULT = "coming"

        def lookups(self, request, model_admin):
            return (("coming", "Not yet settled"), ("settled", "Settled"), ("all", "All"))

        def chosen(self) -> str:
            value = self.value()
            return value if value in ("coming", "settled", "all") else self.DEFAULT

        def queryset(self, request, queryset):
            today = clock.trading_date()  # the settlement day itself still counts as coming: the contract settles then
            chosen = self.chosen()
            if chosen == "coming":
                return queryset.filter(settlement_date__gte=today)
            if chosen == "settled":
                return queryset.filter(settlement_date__lt=today)
            return queryset

        def choices(self, changelist):
            chosen = self.chosen()
            for value, label in self.lookup_choices:
                yield {"selected": value == chosen, "display": label,
                       "query_string": changelist.get_query_string({self.parameter_name: value})}

    list_display = ("contract_month", "symbols", "settlement_date", "roll_by", "countdown_sessions",
                    "countdown_days", "planned_roll_by", "plan_flag")
    list_filter = (SettlementFilter, "sessions_before")
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
        # Classes from static/dspops/dspops.css: the Content-Security-Policy allows no style attributes.
        tone = "text-critical" if sessions <= 0 else "text-warning" if sessions <= 2 else ""
        return format_html('<span class="{}">{}</span>', tone, sessions)

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
        return format_html('<strong class="text-critical">{}</strong>', "; ".join(parts))

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


# --- the roll: changelist, checklist page, runbook ---------------------------------------------


@dataclass(frozen=True)
class _Done:
    """What an action did: the message the operator sees and the line in the admin log."""

    message: str
    log: str
    level: int = messages.SUCCESS


@admin.register(RollAttempt)
class RollAttemptAdmin(BoundedAdminMixin, admin.ModelAdmin):
    """A roll's main page is its checklist; every step is a POST to the roll service."""

    list_display = ("checklist_link", "state_title", "rehearsal", "legs", "quantity", "created_at", "created_by")
    list_display_links = None
    list_filter = ("state", "rehearsal")
    list_select_related = ("old_front", "middle", "new_back", "created_by")
    change_list_template = "admin/rolls/rollattempt/change_list.html"

    ACTIONS = {
        "run-checks": "_run_checks", "manual-checks": "_manual_checks", "start-executing": "_start_executing",
        "record-fill": "_record_fill", "pull-fills": "_pull_fills", "verify": "_verify", "close": "_close",
        "abort": "_abort", "reverse-leg-fill": "_reverse_leg_fill",
    }

    def has_add_permission(self, request):
        return False  # a roll is planned from the position config (the Plan buttons), never typed in

    def has_delete_permission(self, request, obj=None):
        return False  # the attempts and their transitions are the record of what happened

    def can_plan(self, request) -> bool:
        return request.user.has_perm("rolls.add_rollattempt") and self.has_change_permission(request)

    @admin.display(description="roll", ordering="-created_at")
    def checklist_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:rolls_rollattempt_checklist", args=[obj.pk]), obj)

    @admin.display(description="state", ordering="state")
    def state_title(self, obj):
        return roll_states.STATES[obj.state].title

    @admin.display(description="legs")
    def legs(self, obj):
        q = obj.quantity
        return f"-{q} {obj.old_front} / +{q} {obj.middle} → -{q} {obj.middle} / +{q} {obj.new_back}"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("plan/", wrap(self.plan_view), {"rehearsal": False}, name="rolls_rollattempt_plan"),
            path("plan-rehearsal/", wrap(self.plan_view), {"rehearsal": True}, name="rolls_rollattempt_plan_rehearsal"),
            path("runbook/", wrap(self.runbook_view), name="rolls_rollattempt_runbook"),
            path("<int:object_id>/checklist/", wrap(self.checklist_view), name="rolls_rollattempt_checklist"),
            path("<int:object_id>/checklist/<slug:action>/", wrap(self.action_view), name="rolls_rollattempt_action"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "can_plan": self.can_plan(request)})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The checklist is the roll's page; the model form would only show raw fields.
        # The checklist's address takes ASCII digits; "abc" (and "²", which isdigit() accepts) names no roll.
        if not re.fullmatch(r"[0-9]{1,18}", object_id):
            raise Http404(f"No roll with the id {object_id[:40]!r}.")
        return HttpResponseRedirect(reverse("admin:rolls_rollattempt_checklist", args=[object_id]))

    # --- pages ---

    def checklist_view(self, request, object_id: int):
        attempt = get_object_or_404(RollAttempt.objects.select_related("old_front", "middle", "new_back", "position"),
                                    pk=object_id)
        if not self.has_view_permission(request, attempt):
            raise PermissionDenied
        can_act = self.has_change_permission(request, attempt)
        check = roll_selectors.latest_check(attempt)
        legs = [str(attempt.old_front), str(attempt.middle), str(attempt.new_back)]
        executing = attempt.state == RollState.EXECUTING
        status = roll_service.leg_status(attempt) if attempt.state in roll_selectors.EXECUTION_STATES else []
        # Shown, not raised: a GET never writes. The fill actions and the scheduled roll check raise the alert.
        late = [row.warning for row in status if row.warning]
        fill_forms = []
        if executing and can_act:
            now_text = timezone.localtime(clock.now()).strftime("%Y-%m-%d %H:%M:%S")
            # The warnings the last record-fill POST raised: that leg's form shows them with the confirmation.
            pending = request.session.get(self._confirm_key(attempt)) or {}
            for index, row in enumerate(status):
                if not row.done:
                    initial = {"quantity": row.required - row.filled, "executed_at": now_text}
                    asked = None
                    if pending.get("leg") == index:
                        initial.update(pending.get("typed") or {})
                        asked = pending.get("warnings") or None
                    form = roll_forms.LegFillForm(prefix=f"leg{index}", initial=initial, asked=asked)
                    fill_forms.append((index, row, form))
        verifying = attempt.state in (RollState.LEGS_FILLED, RollState.ESCALATED)
        proposed = roll_selectors.proposed_levels(attempt) if verifying and not attempt.rehearsal else None
        verify_form = roll_forms.VerifyForm(initial={
            "stop_loss_spread": proposed.stop_loss_spread, "take_profit_spread": proposed.take_profit_spread,
        } if proposed else None)
        valid_until = roll_selectors.go_valid_until(check) if attempt.state == RollState.CHECKED_GO else None
        context = {
            **self.admin_site.each_context(request),
            "title": str(attempt),
            "opts": self.model._meta,
            "attempt": attempt,
            "state": roll_states.STATES[attempt.state],
            "transitions": attempt.transitions.select_related("by"),
            "check": check,
            "results": list(check.results.all()) if check else [],
            "quotes": roll_selectors.check_quote_rows(check) if check else [],
            "net_legs": roll_selectors.net_leg_rows(check.net_legs, attempt) if check else [],
            "can_act": can_act,
            "can_start": attempt.state == RollState.CHECKED_GO,  # the template never spells a state
            "can_check": can_act and roll_selectors.can_become(attempt, RollState.CHECKED_GO),
            "manual_form": roll_forms.ManualQuoteForm(legs=legs),
            "go_valid_until": valid_until,
            "go_fresh": valid_until is not None and clock.now() <= valid_until,
            "leg_status": status,
            "late_legs": late,
            "fill_forms": fill_forms,
            "can_verify": can_act and verifying,
            "verify_form": verify_form,
            "proposed": proposed,
            "orphan_alerts": roll_selectors.orphan_alerts(attempt) if attempt.state == RollState.ESCALATED else [],
            "diagnosis": roll_selectors.diagnosis(attempt),
            "booked_fills": roll_selectors.booked_leg_fills(attempt),
            "leg_fills": list(attempt.leg_fills.select_related("instrument", "fill", "reversed_by")),
            "can_reverse_legs": can_act and attempt.state in roll_selectors.CORRECTABLE_STATES,
            "can_close": can_act and roll_selectors.can_become(attempt, RollState.CLOSED),
            "can_abort": can_act and roll_selectors.can_become(attempt, RollState.ABORTED),
            "abort_form": roll_forms.AbortForm(),
            # Orphan legs: some legs are at the broker, so "reverse every fill" is not offered.
            "orphan_legs": roll_service.has_orphan_legs(attempt),
        }
        return TemplateResponse(request, "admin/rolls/rollattempt/checklist.html", context)

    def runbook_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        attempt = roll_selectors.runbook_attempt(request.GET.get("attempt"))
        book = roll_selectors.runbook(attempt)
        context = {
            **self.admin_site.each_context(request),
            "title": "VRP-CS roll runbook",
            "opts": self.model._meta,
            "book": book,
            "attempt": attempt,
            "check": book.check,
            "fail_closed_rules": checks.FAIL_CLOSED_RULES,
            "timeline": checks.TIMELINE,
            "states": roll_selectors.state_rows(),
            "printed_at": clock.now(),
        }
        return TemplateResponse(request, "admin/rolls/rollattempt/runbook.html", context)

    # --- POST endpoints (a GET answers 405) ---

    @method_decorator(require_POST)
    def plan_view(self, request, rehearsal: bool):
        if not self.can_plan(request):
            raise PermissionDenied
        try:
            attempt = roll_service.plan_roll(user=request.user, rehearsal=rehearsal)
        except OperatorError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:rolls_rollattempt_changelist"))
        self.log_addition(request, attempt, "Rehearsal planned" if rehearsal else "Roll planned")
        self.message_user(request, f"{attempt} planned. Run the pre-roll checks next.")
        return HttpResponseRedirect(reverse("admin:rolls_rollattempt_checklist", args=[attempt.pk]))

    @method_decorator(require_POST)
    def action_view(self, request, object_id: int, action: str):
        if not self.has_change_permission(request):
            raise PermissionDenied
        if action not in self.ACTIONS:
            raise Http404(f"A roll has no step called {action!r}.")
        attempt = get_object_or_404(RollAttempt.objects.select_related("old_front", "middle", "new_back"),
                                    pk=object_id)
        back = HttpResponseRedirect(reverse("admin:rolls_rollattempt_checklist", args=[attempt.pk]))
        seen = request.POST.get("version")
        if seen is not None and seen != str(attempt.version):
            self.message_user(request, f"Nothing was done: this roll changed since the page was shown (it is now "
                                       f"{roll_states.STATES[attempt.state].title}). Read the page again before "
                                       "acting.", messages.ERROR)
            return back
        try:
            done = getattr(self, self.ACTIONS[action])(request, attempt)
        # ParameterError (unreadable VRP-CS settings) is listed until sleeves makes it an OperatorError.
        except OperatorError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, "Nothing was saved: " + " ".join(exc.messages), messages.ERROR)
        else:
            self.log_change(request, attempt, done.log)
            self.message_user(request, done.message, done.level)
        # A roll finished with its alerts open (fills reversed from the Fills page since): apply their rules now.
        attempt.refresh_from_db()
        if attempt.state in (RollState.ABORTED, RollState.CLOSED):
            roll_service.resolve_roll_alerts(attempt)
        return back

    def _checked(self, check, how: str) -> _Done:
        verdict = "GO" if check.verdict == "GO" else "DO NOT ROLL"
        failing = [r.label for r in check.results.all() if not r.passed]
        text = f"Pre-roll checks ({how}): {verdict}" + (f". Failing: {', '.join(failing)}." if failing else ".")
        return _Done(text, f"Ran the pre-roll checks ({how}): {verdict}",
                     messages.SUCCESS if check.verdict == "GO" else messages.WARNING)

    def _run_checks(self, request, attempt) -> _Done:
        check = roll_service.run_checks(attempt=attempt, user=request.user, live=True, role="web")
        return self._checked(check, "live quotes")

    def _manual_checks(self, request, attempt) -> _Done:
        form = roll_forms.ManualQuoteForm(request.POST, legs=[str(attempt.old_front), str(attempt.middle),
                                                              str(attempt.new_back)])
        roll_forms.raise_for_errors(form, "The typed quotes cannot be used")
        check = roll_service.run_checks(attempt=attempt, user=request.user, live=form.cleaned_data["read_broker"],
                                        manual_quotes=form.manual_quotes(), manual_vix=form.manual_vix(), role="web")
        return self._checked(check, "quotes typed by the operator")

    def _start_executing(self, request, attempt) -> _Done:
        roll_service.start_executing(attempt=attempt, user=request.user)
        return _Done("Executing: place the two combos in TWS, then record each leg's fill here.",
                     "Started executing (placing the combos in TWS)")

    def _record_fill(self, request, attempt) -> _Done:
        legs = roll_service.required_legs(attempt)
        index = request.POST.get("leg", "")
        if not index.isdigit() or int(index) >= len(legs):
            raise roll_forms.PageInputError("The fill form did not say which leg it is for; reload the page.")
        ticket, instrument, side = legs[int(index)]
        form = roll_forms.LegFillForm(request.POST, prefix=f"leg{index}")
        roll_forms.raise_for_errors(form, f"The {ticket} ticket's {side} {instrument} fill")
        data = form.cleaned_data
        key = self._confirm_key(attempt)
        try:
            leg = roll_service.record_leg_fill(attempt=attempt, ticket=ticket, instrument=instrument, side=side,
                                               quantity=data["quantity"], price=data["price"],
                                               executed_at=data["executed_at"], user=request.user,
                                               confirm=data["confirm"], shown=form.shown_warnings())
        except roll_service.NeedsConfirmation as exc:
            # The page shows the confirmation box (with these warnings posted back) only for this leg, now.
            request.session[key] = {"leg": int(index), "warnings": exc.warnings, "typed": {
                "quantity": data["quantity"], "price": str(data["price"]),
                "executed_at": timezone.localtime(data["executed_at"]).strftime("%Y-%m-%d %H:%M:%S")}}
            raise
        request.session.pop(key, None)
        text = f"Recorded {side} {data['quantity']} {instrument} @ {formats.price(data['price'])} ({ticket} ticket)"
        if leg.confirmed_warnings:
            text += "; confirmed: " + " ".join(leg.confirmed_warnings)
        return _Done(text + ".", text)

    @staticmethod
    def _confirm_key(attempt) -> str:
        return f"roll-{attempt.pk}-leg-fill-warnings"

    def _reverse_leg_fill(self, request, attempt) -> _Done:
        form = roll_forms.ReverseLegFillForm(request.POST)
        roll_forms.raise_for_errors(form, "Reversing the leg fill")
        leg = attempt.leg_fills.filter(pk=form.cleaned_data["leg_fill"]).first()
        if leg is None:
            raise roll_forms.PageInputError("That leg fill is not one of this roll's; reload the page.")
        roll_service.reverse_leg_fill(leg=leg, user=request.user, reason=form.cleaned_data["reason"])
        text = f"Reversed {leg.side} {leg.quantity} {leg.instrument} @ {formats.price(leg.price)} ({leg.ticket} ticket)"
        return _Done(f"{text}: record the leg again.", f"{text}: {form.cleaned_data['reason']}", messages.WARNING)

    def _pull_fills(self, request, attempt) -> _Done:
        pulled = roll_service.pull_leg_fills(attempt=attempt, user=request.user, role="web")
        if not pulled:
            return _Done("IBKR reports no new fills on the roll's legs since execution began.",
                         "Pulled fills from IBKR: none new", messages.WARNING)
        text = f"Pulled {len(pulled)} fill(s) from IBKR: " + "; ".join(
            f"{f.side} {f.quantity} {f.instrument} @ {formats.price(f.price)} ({f.ticket})" for f in pulled)
        return _Done(text + ".", text)

    def _verify(self, request, attempt) -> _Done:
        stop = take_profit = None
        if not attempt.rehearsal:
            form = roll_forms.VerifyForm(request.POST)
            roll_forms.raise_for_errors(form, "The new stop and take-profit")
            stop, take_profit = form.cleaned_data["stop_loss_spread"], form.cleaned_data["take_profit_spread"]
        result = roll_service.verify(attempt=attempt, user=request.user, stop_loss_spread=stop,
                                     take_profit_spread=take_profit, role="web")
        if not result.ok:
            then = {
                verification.NOT_AT_BROKER: "Find the fills or reverse them; then verify again or abort.",
                verification.BREAK: "Reconcile the break with TWS before trading anything.",
            }.get(result.kind, "Close the orphan leg now, then verify again.")
            return _Done(f"ESCALATED: {result.message} {then}", f"Verification escalated: {result.message}",
                         messages.ERROR)
        config = ("Rehearsal: the position config is unchanged." if attempt.rehearsal
                  else "The position config now holds the new legs.")
        return _Done(f"Verified: {result.message} {config}", f"Verified: {result.message}")

    def _close(self, request, attempt) -> _Done:
        roll_service.close(attempt=attempt, user=request.user)
        return _Done("The roll is closed.", "Closed the roll")

    def _abort(self, request, attempt) -> _Done:
        form = roll_forms.AbortForm(request.POST)
        roll_forms.raise_for_errors(form, "Abort")
        booked = roll_service.booked_leg_fills(attempt) if form.cleaned_data["reverse_fills"] else []
        roll_service.abort(attempt=attempt, user=request.user, why=form.cleaned_data["why"],
                           reverse_fills=form.cleaned_data["reverse_fills"])
        text = "The roll is aborted."
        if booked:
            text += f" {len(booked)} recorded fill(s) reversed: " + "; ".join(
                f"{leg.side} {leg.quantity} {leg.instrument} @ {formats.price(leg.price)}" for leg in booked) + "."
        return _Done(text, f"Aborted: {form.cleaned_data['why']}" + (f" ({len(booked)} fills reversed)" if booked
                                                                     else ""), messages.WARNING)


# --- the roll's records, read-only (they are written only by the roll service) ----------------------


class _RollRecordAdmin(ReadOnlyAdmin):
    @admin.display(description="roll")
    def roll_link(self, obj):
        attempt = getattr(obj, "attempt", None) or getattr(getattr(obj, "check_run", None), "attempt", None)
        if attempt is None:
            return "—"
        return format_html('<a href="{}">#{}</a>', reverse("admin:rolls_rollattempt_checklist", args=[attempt.pk]),
                           attempt.pk)


@admin.register(RollTransition)
class RollTransitionAdmin(_RollRecordAdmin):
    list_display = ("at", "roll_link", "from_state", "to_state", "by", "why")
    list_filter = ("to_state",)
    list_select_related = ("attempt", "by")
    search_fields = ("why",)


class CheckResultInline(admin.TabularInline):
    model = CheckResult
    fields = ("label", "observed", "threshold", "passed", "source", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RollCheck)
class RollCheckAdmin(_RollRecordAdmin):
    """Every run of the pre-roll checks, with a roll or without (the roll_check command and task)."""

    list_display = ("checked_at", "roll_link", "verdict", "data_complete", "simulated", "manual_quotes", "checked_by")
    list_filter = ("verdict", "data_complete", "simulated", "manual_quotes")
    list_select_related = ("attempt",)
    fields = ("roll_link", "checked_at", "checked_by", "verdict", "data_complete", "simulated", "manual_quotes",
              "inputs", "tickets", "ticket_problems", "net_legs")
    readonly_fields = fields
    inlines = [CheckResultInline]


@admin.register(CheckResult)
class CheckResultAdmin(_RollRecordAdmin):
    list_display = ("check_run", "roll_link", "label", "observed", "threshold", "passed", "source", "reason")
    list_filter = ("name", "passed")
    list_select_related = ("check_run", "check_run__attempt")


@admin.register(RollLegFill)
class RollLegFillAdmin(_RollRecordAdmin):
    list_display = ("executed_at", "roll_link", "ticket", "side", "quantity", "instrument", "price", "source",
                    "entered_by", "confirmed_warnings", "reversed_at", "reversal_reason")
    list_filter = ("ticket", "source")
    list_select_related = ("attempt", "instrument", "entered_by")
