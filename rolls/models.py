"""The VRP-CS position config (with history) and the roll calendar."""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from dspops.core import bounds, calendars
from dspops.core.fields import PriceField
from dspops.core.models import Instrument
from sleeves.models import Sleeve


def check_calendar_date(value: date, what: str) -> date:
    """A date within the bounds that dspops can also count sessions to (its exchange calendar's window).

    A roll-by or a settlement is counted down in CFE sessions: a date the calendar does not cover would
    make every countdown fail.
    """
    bounds.check_date(value, what)
    if not calendars.CALENDAR_START <= value <= calendars.CALENDAR_END:
        raise bounds.OutOfBounds(
            f"{what} {value.isoformat()} is outside the exchange calendar dspops counts sessions in "
            f"({calendars.CALENDAR_START} to {calendars.CALENDAR_END})")
    return value


def _bounds_errors(instance, checks) -> dict[str, list[str]]:
    """Field errors for the values of `instance` outside dspops.core.bounds; (field, label, check) each, None skipped."""
    return bounds.field_errors(
        (name, (lambda check=check, value=getattr(instance, name), label=label: check(value, label)))
        for name, label, check in checks if getattr(instance, name) is not None
    )


def _price(kind: str, digits=bounds.PRICE_DIGITS):
    return lambda value, label: bounds.check_plausible(value, label, kind, digits=digits)


class SpreadPosition(models.Model):
    """The VRP-CS calendar spread: short the front month, long the next, in equal size.

    It gains when the spread (long - short) widens. The stop sits below the entry spread and
    the take-profit above it.
    """

    sleeve = models.ForeignKey(Sleeve, on_delete=models.PROTECT, related_name="spread_positions")
    short_leg = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="+", help_text="The front month, held short."
    )
    long_leg = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="+", help_text="The next month, held long."
    )
    quantity = models.PositiveIntegerField(help_text="Spreads held: -quantity front, +quantity back.")
    short_entry_price = PriceField()
    long_entry_price = PriceField()
    entry_date = models.DateField()
    entry_spread = PriceField(help_text="Long entry price minus short entry price.")
    stop_loss_spread = PriceField(help_text="Exit when the spread falls to or below this.")
    take_profit_spread = PriceField(help_text="Exit when the spread rises to or above this.")
    settlement_date = models.DateField(help_text="Final settlement of the short (front) leg.")
    roll_by = models.DateField(help_text="Roll by this CFE session.")
    is_active = models.BooleanField(
        default=True, help_text="The position the monitors watch. At most one per sleeve."
    )
    note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-is_active", "-entry_date", "-id"]
        verbose_name = "VRP-CS position config"
        verbose_name_plural = "VRP-CS position config"
        constraints = [
            models.UniqueConstraint(
                fields=["sleeve"], condition=Q(is_active=True), name="one_active_spread_per_sleeve"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="spread_quantity_positive"),
            models.CheckConstraint(condition=~Q(short_leg=F("long_leg")), name="spread_legs_differ"),
            models.CheckConstraint(
                condition=Q(stop_loss_spread__lt=F("entry_spread")), name="spread_stop_below_entry",
                violation_error_message="The stop must be below the entry spread (the loss side).",
            ),
            models.CheckConstraint(
                condition=Q(take_profit_spread__gt=F("entry_spread")), name="spread_take_profit_above_entry",
                violation_error_message="The take-profit must be above the entry spread (the profit side).",
            ),
            models.CheckConstraint(condition=Q(roll_by__lt=F("settlement_date")), name="spread_roll_by_before_settlement"),
            models.CheckConstraint(
                condition=Q(short_entry_price__gt=0) & Q(long_entry_price__gt=0), name="spread_entry_prices_positive"
            ),
        ]

    def __str__(self):
        return f"-{self.quantity} {self.short_leg} / +{self.quantity} {self.long_leg} @ {self.entry_spread}"

    def clean(self):
        errors = validate_spread_levels(
            entry_spread=self.entry_spread,
            stop_loss_spread=self.stop_loss_spread,
            take_profit_spread=self.take_profit_spread,
        )
        # Every date and number within dspops.core.bounds (DECISIONS.md section 11): a roll-by of 1900-01-01
        # saved here made every page that counts down to it fail.
        for name, messages in _bounds_errors(self, (
            ("entry_date", "Entry date", bounds.check_date),
            ("settlement_date", "Settlement date", check_calendar_date),
            ("roll_by", "Roll-by", check_calendar_date),
            ("short_entry_price", "Short entry price", _price("vx_future")),
            ("long_entry_price", "Long entry price", _price("vx_future")),
            ("entry_spread", "Entry spread", _price("vx_spread")),
            ("stop_loss_spread", "Stop-loss spread", _price("vx_spread")),
            ("take_profit_spread", "Take-profit spread", _price("vx_spread")),
            ("quantity", "Quantity", _price("quantity", bounds.QUANTITY_DIGITS)),
        )).items():
            errors.setdefault(name, []).extend(messages)
        if (
            self.short_entry_price is not None
            and self.long_entry_price is not None
            and self.entry_spread is not None
            and self.entry_spread != self.long_entry_price - self.short_entry_price
        ):
            errors.setdefault("entry_spread", []).append(
                f"The entry spread must equal the long entry price minus the short entry price "
                f"({self.long_entry_price} - {self.short_entry_price} = "
                f"{self.long_entry_price - self.short_entry_price})."
            )
        if self.short_leg_id and self.long_leg_id:
            short, long = self.short_leg, self.long_leg
            for field, leg in (("short_leg", short), ("long_leg", long)):
                if not leg.is_future:
                    errors.setdefault(field, []).append(f"{leg} is not a futures contract.")
            if short.is_future and long.is_future and short.settlement_date >= long.settlement_date:
                errors.setdefault("long_leg", []).append(
                    f"The long leg ({long}) must settle after the short leg ({short}): the spread is "
                    "short the front month and long the next."
                )
        if self.roll_by and self.settlement_date and self.roll_by >= self.settlement_date:
            errors.setdefault("roll_by", []).append("Roll-by must come before the settlement date.")
        if errors:
            raise ValidationError(errors)

    @property
    def legs_expired_on(self) -> date | None:
        """The short leg's settlement date: after it, this config no longer describes a live position."""
        return self.short_leg.settlement_date


def validate_spread_levels(*, entry_spread, stop_loss_spread, take_profit_spread) -> dict[str, list[str]]:
    """The stop sits on the loss side (below entry) and the TP on the profit side (above it).

    Returns field -> messages; empty when the levels are valid. Missing values are reported.
    """
    errors: dict[str, list[str]] = {}
    if entry_spread is None:
        errors["entry_spread"] = ["The entry spread is required."]
        return errors
    if stop_loss_spread is None:
        errors["stop_loss_spread"] = ["A stop-loss level is required."]
    elif stop_loss_spread >= entry_spread:
        errors["stop_loss_spread"] = [
            f"The stop ({stop_loss_spread}) must be below the entry spread ({entry_spread}): the "
            "position loses when the spread narrows, so a stop at or above entry is on the profit side."
        ]
    if take_profit_spread is None:
        errors["take_profit_spread"] = ["A take-profit level is required."]
    elif take_profit_spread <= entry_spread:
        errors["take_profit_spread"] = [
            f"The take-profit ({take_profit_spread}) must be above the entry spread ({entry_spread}): "
            "the position gains when the spread widens, so a take-profit at or below entry is on the "
            "loss side."
        ]
    return errors


def default_levels(entry_spread: Decimal, *, stop_multiple: Decimal, take_profit_multiple: Decimal):
    """Default stop and TP for a positive entry spread, rounded to the 0.01 tick.

    Returns None when the entry spread is not positive: then the operator must enter both.
    """
    if entry_spread is None or entry_spread <= 0:
        return None
    tick = Decimal("0.01")
    return (entry_spread * stop_multiple).quantize(tick), (entry_spread * take_profit_multiple).quantize(tick)


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
        errors = _bounds_errors(self, (
            ("settlement_date", "Settlement date", check_calendar_date),
            ("roll_by", "Roll-by", check_calendar_date),
            ("planned_roll_by", "Planned roll-by", check_calendar_date),
            ("planned_settlement_date", "Planned settlement date", check_calendar_date),
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


class RollState(models.TextChoices):
    PLANNED = "planned", "Planned"
    CHECKED_GO = "checked_go", "Checked: GO"
    CHECKED_NO_GO = "checked_no_go", "Checked: DO NOT ROLL"
    EXECUTING = "executing", "Executing"
    LEGS_FILLED = "legs_filled", "Legs filled"
    VERIFIED = "verified", "Verified"
    CLOSED = "closed", "Closed"
    ABORTED = "aborted", "Aborted"
    ESCALATED = "escalated", "Escalated (orphan leg)"


OPEN_ROLL_STATES = [s for s in RollState.values if s not in (RollState.CLOSED, RollState.ABORTED)]


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
    state = models.CharField(max_length=16, choices=RollState.choices, default=RollState.PLANNED)
    version = models.PositiveIntegerField(default=0, help_text="Moves with every transition (optimistic lock).")
    quantity = models.PositiveIntegerField()
    old_front = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    middle = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    new_back = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    executing_since = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

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
    from_state = models.CharField(max_length=16, choices=RollState.choices)
    to_state = models.CharField(max_length=16, choices=RollState.choices)
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

    class Meta:
        ordering = ["executed_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="leg_fill_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="leg_fill_price_positive",
                                   violation_error_message="The price must be above 0."),
        ]

    def __str__(self):
        return f"{self.ticket}: {self.side} {self.quantity} {self.instrument} @ {self.price}"
