"""The roll calendar and the roll attempts (the VRP-CS position config they roll lives in sleeves)."""

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from dspops.core import bounds, calendars, formats
from dspops.core.fields import PriceField
from dspops.core.models import Instrument
# The states are declared once, in rolls.roll_states; RollState and OPEN_ROLL_STATES are also read from here.
from rolls.roll_states import OPEN_ROLL_STATES, ROLL_STATE_CHOICES, RollState  # noqa: F401
from sleeves.models import Sleeve, SpreadPosition

class RollCycle(models.Model):
    """One VX/VXM contract month in the roll calendar: when it settles and when the book rolls it.

    ``settlement_date`` and ``roll_by`` are computed by the rule. A plan the operator entered by
    hand (``planned_roll_by``) is kept when the calendar is regenerated, and flagged when it
    differs from the rule.
    """

    contract_month = models.CharField(max_length=7, unique=True, help_text="YYYY-MM")
    settlement_date = models.DateField()
    roll_by = models.DateField()
    sessions_before = models.PositiveSmallIntegerField(help_text="N: roll-by is the Nth CFE session before settlement.")
    planned_roll_by = models.DateField(
        null=True, blank=True, help_text="A roll date the operator planned by hand; kept across regeneration."
    )
    planned_settlement_date = models.DateField(
        null=True, blank=True, help_text="A settlement date typed by hand (e.g. in the legacy config)."
    )
    plan_note = models.CharField(max_length=200, blank=True)
    generated_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["contract_month"]
        verbose_name = "roll calendar entry"
        verbose_name_plural = "roll calendar"
        constraints = [
            models.CheckConstraint(condition=Q(roll_by__lt=F("settlement_date")), name="cycle_roll_by_before_settlement"),
            models.CheckConstraint(
                condition=Q(contract_month__regex=r"^20[0-9]{2}-(0[1-9]|1[0-2])$"), name="cycle_month_format"
            ),
        ]

    def __str__(self):
        return self.contract_month

    def clean(self):
        errors = bounds.model_field_errors(self, (
            ("settlement_date", "Settlement date", calendars.check_calendar_date),
            ("roll_by", "Roll-by", calendars.check_calendar_date),
            ("planned_roll_by", "Planned roll-by", calendars.check_calendar_date),
            ("planned_settlement_date", "Planned settlement date", calendars.check_calendar_date),
            ("generated_at", "Generated at", bounds.check_date),
        ))
        if errors:
            raise ValidationError(errors)

    @property
    def plan_differs(self) -> bool:
        return (self.planned_roll_by is not None and self.planned_roll_by != self.roll_by) or (
            self.planned_settlement_date is not None and self.planned_settlement_date != self.settlement_date
        )

    @property
    def effective_roll_by(self) -> date:
        return self.planned_roll_by or self.roll_by


class RollAttempt(models.Model):
    """One roll of the VRP-CS spread: -q old front / +q middle becomes -q middle / +q new back.

    It moves only along the transitions in ``rolls.roll_states.TRANSITIONS``; each move is a
    RollTransition row (who, when, why). A rehearsal walks the same states but never records
    real fills and never changes the position config.
    """

    sleeve = models.ForeignKey(Sleeve, on_delete=models.PROTECT, related_name="roll_attempts")
    position = models.ForeignKey(SpreadPosition, on_delete=models.PROTECT, related_name="roll_attempts",
                                 help_text="The position config being rolled.")
    rehearsal = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=ROLL_STATE_CHOICES, default=RollState.PLANNED.value)
    version = models.PositiveIntegerField(default=0, help_text="Moves with every transition (optimistic lock).")
    quantity = models.PositiveIntegerField()
    old_front = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    middle = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    new_back = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    executing_since = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    positions_before = models.JSONField(
        null=True, blank=True,
        help_text="The VXM positions the broker held when trading began (from the GO check that allowed it): "
                  "symbol -> signed quantity. Verification compares the broker with them to tell fills that never "
                  "reached the broker from a half-done roll.")
    positions_before_source = models.CharField(max_length=200, blank=True)
    diagnosis = models.JSONField(
        null=True, blank=True,
        help_text="The latest verification: what it found (complete, not at the broker, orphan legs, a break), "
                  "its message, the orders it advises and the positions nobody planned.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "roll"
        constraints = [
            models.UniqueConstraint(
                fields=["sleeve", "rehearsal"], condition=Q(state__in=OPEN_ROLL_STATES),
                name="one_open_roll_per_sleeve_and_mode",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="roll_quantity_positive"),
        ]

    def __str__(self):
        kind = "Rehearsal" if self.rehearsal else "Roll"
        return f"{kind} #{self.pk}: {self.old_front}/{self.middle} → {self.middle}/{self.new_back}"


class RollTransition(models.Model):
    attempt = models.ForeignKey(RollAttempt, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=16, choices=ROLL_STATE_CHOICES)
    to_state = models.CharField(max_length=16, choices=ROLL_STATE_CHOICES)
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    why = models.TextField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.from_state} → {self.to_state}"


class RollCheck(models.Model):
    """One run of the pre-roll checks: the verdict, the inputs it saw, the tickets it computed."""

    attempt = models.ForeignKey(RollAttempt, null=True, blank=True, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField()
    checked_by = models.CharField(max_length=150, blank=True)
    verdict = models.CharField(max_length=8, choices=[("GO", "GO"), ("NO_GO", "DO NOT ROLL")])
    data_complete = models.BooleanField(help_text="False when an input could not be read at all.")
    simulated = models.BooleanField(default=False)
    manual_quotes = models.BooleanField(default=False, help_text="Quotes were typed by the operator.")
    inputs = models.JSONField(default=dict)
    tickets = models.JSONField(default=list)
    ticket_problems = models.JSONField(default=list)
    net_legs = models.JSONField(default=dict)

    class Meta:
        ordering = ["-checked_at", "-id"]
        get_latest_by = "checked_at"

    def __str__(self):
        return f"{self.verdict} at {self.checked_at:%Y-%m-%d %H:%M}"


class CheckResult(models.Model):
    check_run = models.ForeignKey(RollCheck, on_delete=models.CASCADE, related_name="results")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=32)
    label = models.CharField(max_length=120)
    observed = models.CharField(max_length=300)
    threshold = models.CharField(max_length=120)
    passed = models.BooleanField()
    source = models.CharField(max_length=120, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["check_run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["check_run", "position"], name="check_result_position_unique"),
            models.CheckConstraint(condition=Q(passed=True) | ~Q(reason=""), name="failed_check_says_why"),
        ]

    def __str__(self):
        return f"{self.label}: {'pass' if self.passed else 'FAIL'}"


class RollLegFill(models.Model):
    """A fill on one leg of a roll's combos. In a real roll it is also a Fill of the sleeve."""

    TICKETS = [("close", "Close the old spread"), ("open", "Open the new spread")]

    attempt = models.ForeignKey(RollAttempt, on_delete=models.CASCADE, related_name="leg_fills")
    ticket = models.CharField(max_length=5, choices=TICKETS)
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4, choices=[("BUY", "Buy"), ("SELL", "Sell")])
    quantity = models.PositiveIntegerField()
    price = PriceField()
    executed_at = models.DateTimeField()
    source = models.CharField(max_length=16)
    exec_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    fill = models.OneToOneField("sleeves.Fill", null=True, blank=True, on_delete=models.PROTECT, related_name="roll_leg")
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    confirmed_warnings = models.JSONField(
        default=list, blank=True,
        help_text="The warnings the operator saw and confirmed when recording this fill (a price far from the "
                  "leg's quote, a combo price far from the ticket's limit), word for word.")
    reversed_at = models.DateTimeField(null=True, blank=True,
                                       help_text="When this leg fill was reversed (it then counts for nothing).")
    reversed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    reversal_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["executed_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="leg_fill_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="leg_fill_price_positive",
                                   violation_error_message="The price must be above 0."),
        ]

    def __str__(self):
        text = f"{self.ticket}: {self.side} {self.quantity} {self.instrument} @ {formats.price(self.price)}"
        return f"{text} (reversed)" if self.reversed_at else text

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None
