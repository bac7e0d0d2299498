"""Sleeves, their settings, fills, monitor runs and the sleeve logs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, router, transaction
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from dspops.core import bounds, calendars, clock, formats, tabular, vx
from dspops.core.fields import MoneyField, PriceField
from dspops.core.models import DataSource, Instrument
from sleeves import parameters
from sleeves.position_book import AVERAGE_PLACES, FIGURE_DIGITS, REALISED_PLACES, PositionBook


def _logged(moment: datetime) -> str:
    """When a log row was written, in ET; a time no zone can convert (a row stored before the bounds, year 1
    or 9999) as its UTC text, labelled, so its admin page still opens."""
    try:
        return formats.moment(moment)
    except (OverflowError, ValueError):
        return f"{moment:%Y-%m-%d %H:%M} UTC"


class SleeveCode(models.TextChoices):
    DM = "DM", "DM (ETF dual momentum)"
    VRP_ERP = "VRP_ERP", "VRP-ERP (VIX-gated SPY)"
    VRP_CS = "VRP_CS", "VRP-CS (VXM calendar spread)"


class Sleeve(models.Model):
    code = models.CharField(max_length=16, choices=SleeveCode.choices, unique=True)
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    order_ref_prefix = models.CharField(
        max_length=32, unique=True,
        help_text="IBKR orders whose order ref starts with this belong to this sleeve.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.name


PARAMETER_PLACES = 10  # decimal places a decimal setting may have


class SleeveParameter(models.Model):
    """One editable setting of a sleeve (or of the whole book when ``sleeve`` is empty)."""

    sleeve = models.ForeignKey(
        Sleeve, null=True, blank=True, on_delete=models.CASCADE, related_name="parameters",
        help_text="Empty for book-wide settings.",
    )
    key = models.CharField(max_length=64)
    value = models.CharField(max_length=500)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["sleeve__code", "key"]
        verbose_name = "setting"
        constraints = [
            models.UniqueConstraint(fields=["sleeve", "key"], name="parameter_unique_per_sleeve"),
            models.UniqueConstraint(
                fields=["key"], condition=Q(sleeve__isnull=True), name="parameter_unique_book_wide"
            ),
        ]

    def __str__(self):
        return f"{self.scope}.{self.key} = {self.value}"

    @property
    def scope(self) -> str:
        return self.sleeve.code if self.sleeve_id else parameters.BOOK

    @property
    def spec(self) -> parameters.ParameterSpec:
        return parameters.spec(self.scope, self.key)

    def clean(self):
        try:
            typed = self.spec.parse(self.value)
        except parameters.ParameterError as exc:
            raise ValidationError({"value": str(exc)}) from None
        if isinstance(typed, Decimal) and typed.as_tuple().exponent < -PARAMETER_PLACES:  # type: ignore[operator]
            # Within its minimum and maximum, yet "1e-999999" would be a million digits of text.
            raise ValidationError({"value": f"{self.key}: {self.value.strip()[:40]} has more than "
                                            f"{PARAMETER_PLACES} decimal places."})
        self.value = self.spec.format(typed)


class Side(models.TextChoices):
    BUY = "BUY", "Buy"
    SELL = "SELL", "Sell"


class FillSource(models.TextChoices):
    MANUAL = "manual", "Entered by the operator"
    IBKR_API = "ibkr", "IBKR executions (API)"
    FLEX = "flex", "IBKR Flex report"
    LEGACY = "legacy", "Legacy import"
    SIMULATED = "simulated", "Simulated broker"
    CORRECTION = "correction", "Reversal of an earlier fill"


class FillQuerySet(models.QuerySet):
    """Every way fills are written in bulk keeps the positions table (SleevePosition) in the same transaction."""

    def _positions(self) -> set[tuple[int | None, int]]:
        """The (sleeve id, instrument id) positions of these fills, and of the fills the reversals among them cancel."""
        rows = self.order_by().values_list("sleeve_id", "instrument_id", "reverses__sleeve_id", "reverses__instrument_id")
        keys = set()
        for sleeve_id, instrument_id, reversed_sleeve_id, reversed_instrument_id in rows.distinct():
            keys.add((sleeve_id, instrument_id))
            if reversed_instrument_id is not None:
                keys.add((reversed_sleeve_id, reversed_instrument_id))
        return keys

    def update(self, **kwargs):
        # Only attribution of an unattributed fill is allowed; prices and quantities never change.
        if set(kwargs) - {"sleeve", "sleeve_id"}:
            raise ValidationError("Fills are never edited in place: record a reversing fill instead.")
        with transaction.atomic(using=self.db):
            keys = self._positions()
            changed = super().update(**kwargs)
            sleeve = kwargs.get("sleeve", kwargs.get("sleeve_id"))
            sleeve_id = sleeve.pk if isinstance(sleeve, models.Model) else sleeve
            SleevePosition.objects.db_manager(self.db).replay(keys | {(sleeve_id, i) for _, i in keys})
        return changed

    def bulk_update(self, objs, fields, batch_size=None):
        """Attribution only, like update(): each fill's sleeve is set through update(), so the positions follow."""
        if set(fields) - {"sleeve", "sleeve_id"}:
            raise ValidationError("Fills are never edited in place: record a reversing fill instead.")
        with transaction.atomic(using=self.db):
            return sum(self.filter(pk=fill.pk).update(sleeve_id=fill.sleeve_id) for fill in objs)

    def bulk_create(self, objs, *args, **kwargs):
        if kwargs.get("update_conflicts"):
            raise ValidationError("Fills are never edited in place: record a reversing fill instead.")
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            keys = {(f.sleeve_id, f.instrument_id) for f in created}
            reversed_ids = [f.reverses_id for f in created if f.reverses_id is not None]
            keys |= set(Fill.objects.using(self.db).filter(pk__in=reversed_ids).order_by()
                        .values_list("sleeve_id", "instrument_id").distinct())
            SleevePosition.objects.db_manager(self.db).replay(keys)
        return created

    def delete(self):
        # Only tests and fixtures delete fills (the model refuses); the positions follow all the same.
        with transaction.atomic(using=self.db):
            keys = self._positions()
            deleted = super().delete()
            SleevePosition.objects.db_manager(self.db).replay(keys)
        return deleted


class Fill(models.Model):
    """One execution. Never edited in place: a correction is a reversing fill plus a new one."""

    sleeve = models.ForeignKey(
        Sleeve, null=True, blank=True, on_delete=models.PROTECT, related_name="fills",
        help_text="Empty while the fill cannot be attributed to a sleeve (an alert says so).",
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="fills")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.DecimalField(max_digits=14, decimal_places=4, help_text="Always positive.")
    price = PriceField(help_text="Per unit, in points (not times the multiplier).")
    commission = MoneyField(null=True, blank=True, help_text="Empty when the broker has not reported it.")
    executed_at = models.DateTimeField()
    exec_id = models.CharField("IBKR execId", max_length=64, null=True, blank=True, unique=True)
    order_ref = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, choices=FillSource.choices)
    note = models.CharField(max_length=300, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_warnings = models.JSONField(
        default=list, blank=True,
        help_text="The warnings the person who entered the fill saw and confirmed (an instrument outside the "
                  "sleeve, a date that is not a session, a price far from the quote), word for word.",
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by",
        help_text="The fill this one cancels out.",
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["recorded_at"])

    objects = FillQuerySet.as_manager()

    class Meta:
        ordering = ["-executed_at", "-id"]
        indexes = [
            models.Index(fields=["sleeve", "instrument", "executed_at"]),
            models.Index(fields=["-executed_at", "-id"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="fill_quantity_positive",
                violation_error_message="The quantity must be positive; the side says whether it is a buy or a sell.",
            ),
            models.CheckConstraint(
                condition=Q(price__gt=0), name="fill_price_positive",
                violation_error_message="The price must be above 0: a fill at 0 is not a real execution.",
            ),
            models.CheckConstraint(
                condition=Q(commission__isnull=True) | Q(commission__gte=0), name="fill_commission_not_negative",
                violation_error_message="The commission cannot be negative; leave it empty if unknown.",
            ),
            models.CheckConstraint(condition=Q(side__in=["BUY", "SELL"]), name="fill_side_valid"),
            models.CheckConstraint(condition=~Q(exec_id=""), name="fill_exec_id_null_not_blank"),
        ]

    def __str__(self):
        return f"{self.side} {formats.quantity(self.quantity)} {self.instrument} @ {formats.price(self.price)}"

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == Side.BUY else -self.quantity

    def unattributed_alert(self, *, why: str = "") -> tuple[str, str]:
        """The fill_unattributed alert for this fill, the same wherever it is raised: (subject, message).

        ``why`` is the reason attribution gave, known only while importing; the digest's rule has none.
        """
        subject = self.exec_id or f"fill #{self.pk}"
        reason = f": {why}" if why else ""
        return subject, (
            f"Fill {subject} ({self}, {formats.moment(self.executed_at)}) has no sleeve{reason}. Set its sleeve on "
            "the fill in the admin; until then it counts in no sleeve's position."
        )

    def clean(self):
        """Every number within its plausible range and column, the time within the date bounds and not in
        the future (DECISIONS.md section 11).

        A reversal mirrors the fill it cancels: a value it copies from that fill is not checked again, so a
        fill stored before these bounds (dated 9999-12-31, say) can still be reversed.
        """
        reversed_fill = Fill.objects.filter(pk=self.reverses_id).first() if self.reverses_id else None

        def mirrored(name):
            return reversed_fill is not None and getattr(self, name) == getattr(reversed_fill, name)

        kind = bounds.price_kind(self.instrument.sec_type) if self.instrument_id else "stock_price"
        checks = (
            ("executed_at", lambda: bounds.check_execution_time(self.executed_at, clock.now(), "Execution time")),
            ("quantity", lambda: bounds.check_plausible(
                self.quantity, "Quantity", "quantity", digits=tabular.digits_of(Fill, "quantity"))),
            ("price", lambda: bounds.check_plausible(self.price, "Price", kind, digits=bounds.PRICE_DIGITS)),
            ("commission", lambda: bounds.check_plausible(self.commission, "Commission", "commission",
                                                          digits=bounds.MONEY_DIGITS)),
        )
        errors = bounds.field_errors((name, check) for name, check in checks
                                     if getattr(self, name) is not None and not mirrored(name))
        if errors:
            raise ValidationError(errors)
        if reversed_fill is None and self.instrument_id and self.price is not None and self.quantity is not None:
            self._check_position_room()

    def _check_position_room(self) -> None:
        """Refuse, with the figures, a fill that would take its position past what the table keeps exactly (a price
        typed 1000 times too large, say). Saving checks again, in order; this says it while the form is open."""
        row = SleevePosition.objects.filter(sleeve_id=self.sleeve_id, instrument_id=self.instrument_id).first()
        book = row.book() if row is not None else PositionBook()
        book.add(self.signed_quantity, self.price, self.commission)
        problems = book.out_of_range()
        if problems:
            label = row.label if row is not None else f"{self.sleeve.code if self.sleeve_id else 'unattributed'} " \
                                                      f"{self.instrument.local_symbol or self.instrument.symbol}"
            raise ValidationError(f"This fill would take the {label} position's {'; '.join(problems)}: beyond what "
                                  "dspops keeps exactly. Check its price and quantity.")

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValidationError("Fills are never edited in place: record a reversing fill instead.")
        if self.exec_id == "":
            self.exec_id = None
        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(Fill, instance=self)):
            super().save(*args, **kwargs)
            SleevePosition.objects.db_manager(self._state.db).after_fill(self)

    def delete(self, *args, **kwargs):
        raise ValidationError("Fills are never deleted: record a reversing fill instead.")


# The positions a batch of fills moves at its end (positions_batch): {(sleeve id, instrument id): the fills to add,
# or None to replay}; None outside a batch.
_BATCH: ContextVar[dict | None] = ContextVar("positions_batch", default=None)


@contextmanager
def positions_batch(using: str = "default") -> Iterator[None]:
    """For a batch of fills (an import, an abort's reversals): the positions they touch are moved once, at the end
    of the block and inside its transaction, in a fixed order, so two batches at once lock the rows in the same
    order and never deadlock; a position that needs a replay is replayed once, not once per earlier-dated fill."""
    if _BATCH.get() is not None:  # already in a batch: the outer one moves the positions
        yield
        return
    pending: dict = {}
    token = _BATCH.set(pending)
    try:
        with transaction.atomic(using=using):
            yield
            _BATCH.set(None)
            SleevePosition.objects.db_manager(using).settle(pending)
    finally:
        _BATCH.reset(token)


def _position_key(key: tuple[int | None, int]) -> tuple[int, int]:
    return (key[0] or 0, key[1])


class SleevePositionManager(models.Manager):
    """Keeps the positions table in step with the fills, inside the transaction that writes them."""

    def after_fill(self, fill: Fill) -> None:
        """Move the position of ``fill`` on by it. A reversal replays the positions of the pair instead (the pair
        leaves no trace), and so does a fill dated before the last one its position has taken (average cost
        depends on the order)."""
        if fill.reverses_id is None:
            self.move({(fill.sleeve_id, fill.instrument_id): [fill]})
            return
        reversed_fill = Fill.objects.using(self.db).get(pk=fill.reverses_id)
        self.replay({(fill.sleeve_id, fill.instrument_id), (reversed_fill.sleeve_id, reversed_fill.instrument_id)})

    def replay(self, keys) -> None:
        """Recompute each (sleeve id, instrument id) position from its counted fills."""
        self.move({key: None for key in keys})

    def move(self, changes: dict) -> None:
        """{position key: fills to add, or None to replay}: now, or at the end of the batch this runs in."""
        batch = _BATCH.get()
        if batch is None:
            self.settle(changes)
            return
        for key, fills in changes.items():
            if fills is None or batch.get(key, []) is None:
                batch[key] = None
            else:
                batch.setdefault(key, []).extend(fills)

    def settle(self, changes: dict) -> None:
        for key in sorted(changes, key=_position_key):
            row = self._locked(*key)
            fills = sorted(changes[key] or [], key=lambda f: (f.executed_at, f.pk))
            if fills and (not row.fill_count
                          or (fills[0].executed_at, fills[0].pk) > (row.last_executed_at, row.last_fill_id)):
                book = row.book()
                for fill in fills:
                    book.add(fill.signed_quantity, fill.price, fill.commission)
                row.store(book, last=(fills[-1].executed_at, fills[-1].pk))
            else:
                row.store(*replay_book(*key, using=self.db))

    def _locked(self, sleeve_id: int | None, instrument_id: int) -> SleevePosition:
        # Rows are never deleted (a position whose fills were all reversed keeps an empty row), so the row found
        # here is still there to lock.
        row, _ = self.get_or_create(sleeve_id=sleeve_id, instrument_id=instrument_id)
        return self.select_for_update().get(pk=row.pk)


def replay_book(sleeve_id: int | None, instrument_id: int, *, using: str = "default", as_of: datetime | None = None):
    """One position replayed from its counted fills up to ``as_of``, in execution order: (book, last fill's
    (executed_at, id)), or (empty book, (None, None)) when no fill counts. A reversed fill and its reversal are
    left out. The one replay: the table's upkeep, its check and positions at an earlier moment all use it."""
    fills = counted_fills(as_of=as_of).using(using).filter(sleeve_id=sleeve_id, instrument_id=instrument_id)
    book, last = PositionBook(), (None, None)
    rows = fills.order_by("executed_at", "id").values_list("id", "executed_at", "side", "quantity", "price", "commission")
    for pk, executed_at, side, quantity, price, commission in rows.iterator(chunk_size=5000):
        book.add(quantity if side == Side.BUY else -quantity, price, commission)
        last = (executed_at, pk)
    return book, last


def counted_fills(*, as_of: datetime | None = None):
    """The fills that make positions up to ``as_of``: a reversal, and a fill whose reversal is dated by then,
    are left out together, so the pair leaves no trace (DECISIONS.md section 9)."""
    fills = Fill.objects.filter(reverses__isnull=True)
    if as_of is None:
        return fills.filter(reversed_by__isnull=True)
    return fills.filter(executed_at__lte=as_of).exclude(reversed_by__executed_at__lte=as_of)


class SleevePosition(models.Model):
    """A sleeve's running position in one instrument, kept by each fill and reversal in the transaction that
    records it, so the pages read positions at a constant cost whatever the number of fills.

    Derived data: ``manage.py rebuild_positions --check`` replays the fills and reports any difference; without
    ``--check`` it repairs the table. Never edited by hand. A position whose fills were all reversed keeps its
    row, empty (no fill counted).
    """

    sleeve = models.ForeignKey(Sleeve, null=True, blank=True, on_delete=models.PROTECT, related_name="positions",
                               help_text="Empty: fills not yet attributed to a sleeve.")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(max_digits=FIGURE_DIGITS["held"][0][0], decimal_places=4, default=0)
    average_cost = models.DecimalField(max_digits=FIGURE_DIGITS["average"][0][0], decimal_places=AVERAGE_PLACES,
                                       default=0, help_text="Per unit, in points; 0 when flat.")
    realized_pnl_points = models.DecimalField(max_digits=FIGURE_DIGITS["realised"][0][0],
                                              decimal_places=REALISED_PLACES, default=0)
    fill_count = models.PositiveIntegerField(default=0, help_text="The fills that count (not a reversed pair).")
    commissions_usd = models.DecimalField(max_digits=FIGURE_DIGITS["commissions"][0][0], decimal_places=2, default=0)
    commissions_missing = models.PositiveIntegerField(default=0)
    last_executed_at = models.DateTimeField(null=True, blank=True)
    last_fill_id = models.BigIntegerField(null=True, blank=True, help_text="The last fill the position has taken.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = SleevePositionManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sleeve", "instrument"], name="sleeve_position_one_per_instrument"),
            models.UniqueConstraint(fields=["instrument"], condition=Q(sleeve__isnull=True),
                                    name="sleeve_position_one_unattributed_per_instrument"),
        ]

    def __str__(self):
        return f"{self.label} {formats.quantity(self.quantity)}"

    @property
    def label(self) -> str:
        """"VRP_ERP SPY", "unattributed VXMF7": how checks and refusals name the position."""
        return f"{self.sleeve.code if self.sleeve_id else 'unattributed'} " \
               f"{self.instrument.local_symbol or self.instrument.symbol}"

    def book(self) -> PositionBook:
        return PositionBook(held=self.quantity, average=self.average_cost, realised=self.realized_pnl_points,
                            count=self.fill_count, commissions=self.commissions_usd,
                            commissions_missing=self.commissions_missing)

    def store(self, book: PositionBook, last: tuple) -> None:
        """Write ``book`` and its last fill's (executed_at, id). Refuses (ValidationError, so the fill that led here
        is not recorded either) a figure too large to be kept exactly."""
        problems = book.out_of_range()
        if problems:
            raise ValidationError(f"This would take the {self.label} position's {'; '.join(problems)}: beyond what "
                                  "dspops keeps exactly. Check the fill's price and quantity.")
        self.quantity, self.average_cost, self.realized_pnl_points = book.held, book.average, book.realised
        self.fill_count, self.commissions_usd, self.commissions_missing = (book.count, book.commissions,
                                                                           book.commissions_missing)
        self.last_executed_at, self.last_fill_id = last
        self.save()


class RunKind(models.TextChoices):
    VRP_ERP = "vrp_erp", "VRP-ERP monitor"
    VRP_CS = "vrp_cs", "VRP-CS monitor"
    DM_PLAN = "dm_plan", "DM rebalance plan"
    VOL_TARGET = "vol_target", "Vol-target overlay"
    ROLL_CHECK = "roll_check", "Pre-roll check"
    FILL_SYNC = "fill_sync", "Fill sync"
    RECONCILE = "reconcile", "Reconciliation"
    DIGEST = "digest", "Daily digest"
    WEEKLY_REVIEW = "weekly_review", "Weekly review"


class RunStatus(models.TextChoices):
    OK = "ok", "OK"
    DATA_UNAVAILABLE = "data_unavailable", "DATA UNAVAILABLE"
    # The VRP-CS holding is not the configured spread (a naked leg); "mismatch" fits the 16-character column.
    POSITION_MISMATCH = "mismatch", "POSITION MISMATCH"
    SKIPPED = "skipped", "Skipped"
    ERROR = "error", "Error"


class MonitorRun(models.Model):
    """One run of a monitor or task: what it was given, where that came from, what it said."""

    kind = models.CharField(max_length=16, choices=RunKind.choices)
    sleeve = models.ForeignKey(Sleeve, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    trading_date = models.DateField(help_text="The NYSE session the run belongs to (New York date).")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    reason = models.TextField(blank=True, help_text="Why data was unavailable, skipped or failed.")
    simulated = models.BooleanField(default=False, help_text="Made from the simulated broker.")
    triggered_by = models.CharField(max_length=32, blank=True, help_text="command, task, admin or import")
    inputs = models.JSONField(default=dict, blank=True)
    sources = models.JSONField(default=dict, blank=True, help_text="Per input: source and as-of time.")
    outputs = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        indexes = [models.Index(fields=["kind", "-trading_date"]), models.Index(fields=["-started_at", "-id"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="ok") | ~Q(reason=""), name="run_not_ok_says_why"
            ),
        ]
        permissions = [("run_tasks", "Can queue monitors, digests and fill syncs from the dashboard")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.trading_date} ({self.get_status_display()})"


class LogDataStatus(models.TextChoices):
    OK = "ok", "OK"
    DATA_UNAVAILABLE = "data_unavailable", "DATA UNAVAILABLE"


class VrpCsLogEntry(models.Model):
    """A row of the VRP-CS daily log (legacy daily_log.csv layout). Missing values are NULL."""

    run = models.OneToOneField(MonitorRun, null=True, blank=True, on_delete=models.PROTECT, related_name="cs_log")
    logged_at = models.DateTimeField()
    trading_date = models.DateField(help_text="The NYSE session the values belong to.")
    data_status = models.CharField(max_length=16, choices=LogDataStatus.choices)
    vix = PriceField(null=True, blank=True)
    vx1 = PriceField(null=True, blank=True)
    vx2 = PriceField(null=True, blank=True)
    spread = PriceField(null=True, blank=True)
    entry_spread = PriceField(null=True, blank=True)
    quantity = models.IntegerField(null=True, blank=True)
    pnl_usd = MoneyField(null=True, blank=True)
    gate_state = models.CharField(max_length=8, blank=True)
    gate_score = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    contango_pct = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    days_to_roll = models.IntegerField(null=True, blank=True)
    sessions_to_roll = models.IntegerField(null=True, blank=True)
    roll_by = models.DateField(null=True, blank=True)
    stop_loss_level = PriceField(null=True, blank=True)
    take_profit_level = PriceField(null=True, blank=True)
    stop_loss_hit = models.BooleanField(null=True, blank=True)
    take_profit_hit = models.BooleanField(null=True, blank=True)
    notes = models.TextField(blank=True)
    flags = models.JSONField(default=list, blank=True, help_text="What the import or the monitor flagged.")
    source = models.CharField(max_length=16, choices=DataSource.choices)
    import_key = models.CharField(max_length=80, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-logged_at", "-id"]
        verbose_name = "VRP-CS log entry"
        verbose_name_plural = "VRP-CS daily log"
        indexes = [models.Index(fields=["-trading_date", "-logged_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(data_status="ok") | (Q(vx1__isnull=False) & Q(vx2__isnull=False) & Q(spread__isnull=False)),
                name="cs_log_ok_has_prices",
            ),
        ]

    def __str__(self):
        return f"VRP-CS {_logged(self.logged_at)} spread {formats.price(self.spread)}"


class VrpErpLogEntry(models.Model):
    """A row of the VRP-ERP log (legacy vrp_erp_log.csv layout). Missing values are NULL."""

    run = models.OneToOneField(MonitorRun, null=True, blank=True, on_delete=models.PROTECT, related_name="erp_log")
    logged_at = models.DateTimeField()
    trading_date = models.DateField()
    data_status = models.CharField(max_length=16, choices=LogDataStatus.choices)
    vix = PriceField(null=True, blank=True)
    spy_price = PriceField(null=True, blank=True)
    regime = models.CharField(max_length=10, blank=True)
    target_shares = models.IntegerField(null=True, blank=True)
    actual_shares = models.IntegerField(null=True, blank=True)
    actual_exposure_usd = MoneyField(null=True, blank=True)
    avg_cost = PriceField(null=True, blank=True)
    fill_price = PriceField(null=True, blank=True)
    drift_pct = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    rebalance_signal = models.BooleanField(null=True, blank=True)
    action_taken = models.CharField(max_length=120, blank=True)
    notes = models.TextField(blank=True)
    flags = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=16, choices=DataSource.choices)
    import_key = models.CharField(max_length=80, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-logged_at", "-id"]
        verbose_name = "VRP-ERP log entry"
        verbose_name_plural = "VRP-ERP log"
        indexes = [models.Index(fields=["-trading_date", "-logged_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(data_status="ok") | (Q(vix__isnull=False) & Q(spy_price__isnull=False)),
                name="erp_log_ok_has_prices",
            ),
            models.CheckConstraint(
                condition=Q(spy_price__isnull=True) | Q(spy_price__gt=0), name="erp_log_spy_positive"
            ),
        ]

    def __str__(self):
        return f"VRP-ERP {_logged(self.logged_at)} {self.regime}"


class VolTargetState(models.Model):
    """The vol-target overlay multiplier as of one NYSE session."""

    as_of_session = models.DateField(unique=True)
    multiplier = models.DecimalField(max_digits=6, decimal_places=4)
    realized_vol = models.DecimalField(max_digits=8, decimal_places=6, null=True, blank=True)
    returns_used = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=DataSource.choices)
    computed_at = models.DateTimeField()
    run = models.ForeignKey(MonitorRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-as_of_session"]
        get_latest_by = "as_of_session"
        verbose_name = "vol-target state"
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="vol_target_multiplier_positive"),
        ]

    def __str__(self):
        return f"x{self.multiplier} as of {self.as_of_session}"


class PriceBar(models.Model):
    """A daily bar. DM momentum and the vol-target overlay read these."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="bars")
    session = models.DateField()
    open = PriceField(null=True, blank=True)
    high = PriceField(null=True, blank=True)
    low = PriceField(null=True, blank=True)
    close = PriceField()
    volume = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=DataSource.choices)

    class Meta:
        ordering = ["instrument", "-session"]
        get_latest_by = "session"
        verbose_name = "daily price bar"
        constraints = [
            models.UniqueConstraint(fields=["instrument", "session"], name="bar_unique_per_session"),
            models.CheckConstraint(condition=Q(close__gt=0), name="bar_close_positive"),
        ]

    def __str__(self):
        return f"{self.instrument} {self.session} {self.close}"


class SignalState(models.Model):
    """A persisted signal state: the VRP-ERP regime or the VRP-CS gate.

    It changes at most once per trading session; counts are in sessions, never in runs.
    """

    sleeve = models.ForeignKey(Sleeve, on_delete=models.PROTECT, related_name="signal_states")
    name = models.CharField(max_length=16, help_text="regime (VRP-ERP) or gate (VRP-CS)")
    state = models.CharField(max_length=16)
    since_session = models.DateField(help_text="First session in the current state.")
    pending_state = models.CharField(
        max_length=16, blank=True, help_text="A change being confirmed (VRP-ERP regime)."
    )
    pending_since = models.DateField(null=True, blank=True)
    last_session = models.DateField(help_text="Last session the state was evaluated.")
    score = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    source = models.CharField(max_length=16, choices=DataSource.choices)
    note = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["sleeve__code", "name"]
        constraints = [
            models.UniqueConstraint(fields=["sleeve", "name"], name="one_signal_state_per_sleeve"),
            models.CheckConstraint(
                condition=(Q(pending_state="") & Q(pending_since__isnull=True))
                | (~Q(pending_state="") & Q(pending_since__isnull=False)),
                name="signal_pending_has_since",
            ),
        ]

    def __str__(self):
        return f"{self.sleeve.code} {self.name}: {self.state} since {self.since_session}"


class LegacyTrade(models.Model):
    """An order record from the legacy trades.csv. Orders, not fills: they carry no prices."""

    logged_at = models.DateTimeField()
    action = models.CharField(max_length=16)
    mode = models.CharField(max_length=16)
    details = models.JSONField(default=dict)
    flags = models.JSONField(default=list, blank=True)
    import_key = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["-logged_at"]
        verbose_name = "legacy order record"

    def __str__(self):
        return f"{_logged(self.logged_at)} {self.action} ({self.mode})"


class DmTarget(models.Model):
    """The DM plan adopted as a month's target (``dm_rebalance run``): weights, shares and tickets.

    No order is sent; the tickets are what the operator trades.
    """

    month = models.CharField(max_length=7, unique=True, help_text="YYYY-MM")
    session = models.DateField(help_text="The NYSE session the plan was made for.")
    run = models.OneToOneField(MonitorRun, on_delete=models.PROTECT, related_name="dm_target")
    nav_usd = MoneyField()
    weights = models.JSONField(default=dict, help_text="symbol -> target weight (fraction)")
    target_shares = models.JSONField(default=dict, help_text="symbol -> target shares")
    tickets = models.JSONField(default=list, help_text="symbol, side, quantity, price, notional_usd")
    dropped = models.JSONField(default=list, blank=True, help_text="orders dropped, with the reason")
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-month"]
        verbose_name = "DM monthly target"

    def __str__(self):
        return f"DM target {self.month}"


# The SpreadPosition constraints whose rule clean() checks and words itself (see SpreadPosition.get_constraints).
SAID_BY_CLEAN = frozenset({
    "one_active_spread_per_sleeve", "spread_quantity_positive", "spread_legs_differ", "spread_stop_below_entry",
    "spread_take_profit_above_entry", "spread_roll_by_before_settlement", "spread_entry_prices_positive",
})


def _vrp_cs_setting(key: str):
    """One typed VRP_CS setting, read fresh. Raises parameters.ParameterError when missing or invalid."""
    text = (SleeveParameter.objects.filter(sleeve__code=SleeveCode.VRP_CS, key=key)
            .values_list("value", flat=True).first())
    if text is None:
        raise parameters.ParameterError(f"VRP_CS is missing the setting {key!r}")
    return parameters.spec(SleeveCode.VRP_CS, key).parse(text)


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
    # Moved here from rolls (it is the sleeve's position, which rolls read); its tables keep their names.
    history = HistoricalRecords(table_name="rolls_historicalspreadposition")

    class Meta:
        db_table = "rolls_spreadposition"
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

    def get_constraints(self):
        """The constraints form and model validation check: all but those clean() already says in the
        operator's words (naming what and where). The database still enforces every one; validating them
        here as well said each problem twice, once as the raw 'Constraint "..." is violated.'."""
        return [(model, [c for c in constraints if c.name not in SAID_BY_CLEAN])
                for model, constraints in super().get_constraints()]

    def clean(self):
        reversed_legs = self._reversed_legs()
        if reversed_legs:
            # One clear message: the levels and dates that follow from swapped legs would only repeat it.
            raise ValidationError({NON_FIELD_ERRORS: [reversed_legs]})
        errors = validate_spread_levels(
            entry_spread=self.entry_spread,
            stop_loss_spread=self.stop_loss_spread,
            take_profit_spread=self.take_profit_spread,
        )
        # Every date and number within dspops.core.bounds (DECISIONS.md section 11): a roll-by of 1900-01-01
        # saved here made every page that counts down to it fail.
        for name, messages in bounds.model_field_errors(self, (
            ("entry_date", "Entry date", bounds.check_date),
            ("settlement_date", "Settlement date", calendars.check_calendar_date),
            ("roll_by", "Roll-by", calendars.check_calendar_date),
            ("short_entry_price", "Short entry price", bounds.plausible("vx_future")),
            ("long_entry_price", "Long entry price", bounds.plausible("vx_future")),
            ("entry_spread", "Entry spread", bounds.plausible("vx_spread")),
            ("stop_loss_spread", "Stop-loss spread", bounds.plausible("vx_spread")),
            ("take_profit_spread", "Take-profit spread", bounds.plausible("vx_spread")),
            ("quantity", "Quantity", bounds.plausible("quantity", bounds.QUANTITY_DIGITS)),
        )).items():
            errors.setdefault(name, []).extend(messages)
        if self.quantity is not None and self.quantity <= 0 and "quantity" not in errors:
            errors["quantity"] = ["The quantity must be at least 1 spread (-1 front / +1 next month)."]
        for name, label in (("short_entry_price", "short"), ("long_entry_price", "long")):
            price = getattr(self, name)
            if price is not None and price <= 0 and name not in errors:
                errors[name] = [f"The {label} entry price must be above 0: a VXM future never trades at {price}."]
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
        # The order of the dates is checked only when each date is itself readable and within the bounds.
        dates_in_bounds = not errors.keys() & {"entry_date", "settlement_date", "roll_by"}
        for field, message in (*self._sleeve_errors(), *self._leg_errors(),
                               *(self._date_errors() if dates_in_bounds else ())):
            errors.setdefault(field, []).append(message)
        if errors:
            raise ValidationError(errors)

    def _sleeve_errors(self) -> list[tuple[str, str]]:
        """The config is always VRP-CS's, and at most one is active (named, with the way out)."""
        if not self.sleeve_id:
            return []
        if self.sleeve.code != SleeveCode.VRP_CS:
            return [(NON_FIELD_ERRORS, f"The position config belongs to the VRP-CS sleeve, not {self.sleeve}: the "
                                       "VRP-CS monitor and the rolls read only VRP-CS's config.")]
        if not self.is_active:
            return []
        other = (SpreadPosition.objects.filter(sleeve_id=self.sleeve_id, is_active=True).exclude(pk=self.pk)
                 .select_related("short_leg", "long_leg").first())
        if other is None:
            return []
        q, number = other.quantity, f"config #{other.pk}"
        return [("is_active", f"Another position config is already active: {number}, -{q} {other.short_leg} / "
                              f"+{q} {other.long_leg} at an entry spread of {formats.price(other.entry_spread)} "
                              f"(entered {other.entry_date}). Only one is active at a time: deactivate {number} "
                              "first (open it and untick 'is active'), or edit it instead of adding a new one.")]

    def _leg_months(self) -> tuple[vx.ContractMonth, vx.ContractMonth] | None:
        """The legs' contract months when both legs are futures with a readable month; else None."""
        try:
            return (vx.ContractMonth.from_label(self.short_leg.contract_month),
                    vx.ContractMonth.from_label(self.long_leg.contract_month))
        except ValueError:
            return None

    def _reversed_legs(self) -> str:
        """The one message for legs entered the wrong way round ("" when they are not)."""
        if not (self.short_leg_id and self.long_leg_id and self.short_leg.is_future and self.long_leg.is_future):
            return ""
        months = self._leg_months()
        if months is None or months[1] >= months[0]:
            return ""
        short, long = self.short_leg, self.long_leg
        return (f"The legs are reversed: the long leg ({long}, {months[1]}) must settle after the short leg ({short}, "
                f"{months[0]}). The spread is short the front month and long the next: swap them (short leg {long}, "
                f"long leg {short}).")

    def _leg_errors(self) -> list[tuple[str, str]]:
        """Both legs are futures of the VRP-CS contract root, in consecutive listed months."""
        if not (self.short_leg_id and self.long_leg_id):
            return []
        try:
            root = _vrp_cs_setting("contract_root")
        except parameters.ParameterError as exc:
            return [(NON_FIELD_ERRORS, f"The legs cannot be checked: the VRP_CS contract_root setting cannot be read "
                                       f"({exc}). Correct it under Settings, then save the position config again.")]
        errors = []
        for field, leg in (("short_leg", self.short_leg), ("long_leg", self.long_leg)):
            if not leg.is_future or leg.symbol.upper() != root.upper():
                what = "future" if leg.is_future else leg.get_sec_type_display().lower()
                errors.append((field, f"{leg} is a {leg.symbol} {what}, not a {root} future: both legs of the VRP-CS "
                                      f"spread are {root} futures (the contract_root setting)."))
        if errors:
            return errors
        short, long = self.short_leg, self.long_leg
        months = self._leg_months()
        if months is None:
            return [("short_leg" if not short.contract_month else "long_leg",
                     f"The contract month of {short} or {long} cannot be read ({short.contract_month or 'none'}, "
                     f"{long.contract_month or 'none'}): correct the instrument.")]
        short_month, long_month = months
        if short_month == long_month:
            return [("long_leg", f"Both legs are {short_month} ({short}, {long}): the long leg is the next month, "
                                 f"{short_month.shift(1).local_symbol(root)} ({short_month.shift(1)}).")]
        if long_month != short_month.shift(1):
            expected = short_month.shift(1)
            return [("long_leg", f"The long leg must be the month right after the short leg: {short} is {short_month}, "
                                 f"so the long leg is {expected.local_symbol(root)} ({expected}), not {long} "
                                 f"({long_month}).")]
        return []

    def _date_errors(self) -> list[tuple[str, str]]:
        """entry date <= roll-by < settlement, where settlement is the short leg's (and the one typed)."""
        if self.roll_by is None:
            return []
        settles = self.short_leg.settlement_date if self.short_leg_id and self.short_leg.is_future else None
        if settles is not None and self.roll_by >= settles:
            return [("roll_by", f"Roll-by {self.roll_by} must come before the short leg {self.short_leg} settles on "
                                f"{settles}: the spread is rolled while its front month still trades.")]
        if self.settlement_date is not None and self.roll_by >= self.settlement_date:
            return [("roll_by", f"Roll-by {self.roll_by} must come before the settlement date {self.settlement_date}.")]
        if self.entry_date is not None and self.roll_by < self.entry_date:
            return [("roll_by", f"Roll-by {self.roll_by} is before the entry date {self.entry_date}: a spread is "
                                "rolled after it was entered. Check both dates (leave roll-by blank to take it from "
                                "the calendar).")]
        return []

    @property
    def legs_expired_on(self) -> date | None:
        """The short leg's settlement date: from it on, this config no longer describes a live position."""
        return self.short_leg.settlement_date

    def legs_settled_by(self, session: date) -> bool:
        """True when the short leg has settled on or before `session` (VX stops trading before its settlement
        morning), so the config does not describe a live position and must not be monitored or rolled."""
        return self.legs_expired_on is not None and self.legs_expired_on <= session

    @property
    def settled_legs_alert(self) -> tuple[str, str]:
        """The spread_legs_expired alert for this config, the same wherever it is raised: (subject, message)."""
        short_leg, long_leg, q = self.short_leg, self.long_leg, self.quantity
        return f"{short_leg}/{long_leg}", (
            f"The VRP-CS position config (-{q} {short_leg} / +{q} {long_leg}, entered {self.entry_date}) names legs "
            f"that have settled: {short_leg} settled on {short_leg.settlement_date}. It does not describe a live "
            "position and is not monitored or rolled. Reconcile the VXM position against IBKR (positions and "
            "executions), then enter the current position config."
        )


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
