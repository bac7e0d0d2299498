"""Kernel models: the instruments the book trades, the quotes observed for them, broker snapshots and
the alerts the operator must act on."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from dspops.core.fields import MoneyField, PriceField


class SecType(models.TextChoices):
    STOCK = "STK", "Stock / ETF"
    INDEX = "IND", "Index"
    FUTURE = "FUT", "Future"


class DataSource(models.TextChoices):
    """Where a number came from. Stored beside every input a decision was made from."""

    LIVE = "live", "Live (broker)"
    FROZEN = "frozen", "Frozen (broker)"
    DELAYED = "delayed", "Delayed (broker)"
    DELAYED_FROZEN = "delayed-frozen", "Delayed frozen (broker)"
    SIMULATED = "simulated", "Simulated broker"
    MANUAL = "manual", "Typed by the operator"
    STORED = "stored", "Stored history"
    LEGACY = "legacy", "Imported from the legacy scripts"


class Instrument(models.Model):
    """A contract the book can hold or watch. Broker data is keyed on ``con_id``."""

    symbol = models.CharField(max_length=16, help_text="Underlying symbol, e.g. SPY, VIX, VXM.")
    sec_type = models.CharField("security type", max_length=3, choices=SecType.choices)
    exchange = models.CharField(max_length=16)
    primary_exchange = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    multiplier = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("1"))
    local_symbol = models.CharField(
        max_length=32, help_text="IBKR local symbol, e.g. VXMG6. For stocks and indexes, the symbol."
    )
    con_id = models.BigIntegerField(
        "IBKR conId", null=True, blank=True, unique=True,
        help_text="IBKR contract id. Empty until the contract is qualified with the broker.",
    )
    contract_month = models.CharField(
        max_length=7, blank=True, help_text="Futures only: YYYY-MM of the contract month."
    )
    settlement_date = models.DateField(
        null=True, blank=True, help_text="Futures only: final settlement (= last trading day)."
    )
    min_tick = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    description = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["sec_type", "symbol", "settlement_date", "local_symbol"]
        constraints = [
            models.UniqueConstraint(
                # VXM local symbols repeat every decade (VXMG6 is 2026 and 2036): the month is part of the key.
                fields=["sec_type", "exchange", "local_symbol", "contract_month"], name="instrument_unique_local_symbol"
            ),
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="instrument_multiplier_positive"),
            models.CheckConstraint(
                condition=~Q(sec_type="FUT") | (Q(settlement_date__isnull=False) & ~Q(contract_month="")),
                name="instrument_future_has_settlement_and_month",
            ),
            models.CheckConstraint(
                condition=Q(sec_type="FUT") | (Q(settlement_date__isnull=True) & Q(contract_month="")),
                name="instrument_only_futures_settle",
            ),
        ]

    def __str__(self):
        return self.local_symbol

    @property
    def is_future(self) -> bool:
        return self.sec_type == SecType.FUTURE


class MarketDataType(models.IntegerChoices):
    LIVE = 1, "Live"
    FROZEN = 2, "Frozen"
    DELAYED = 3, "Delayed"
    DELAYED_FROZEN = 4, "Delayed frozen"


class QuoteSnapshot(models.Model):
    """One observed quote. Missing prices are NULL, never a placeholder number."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="quotes")
    bid = PriceField(null=True, blank=True)
    ask = PriceField(null=True, blank=True)
    last = PriceField(null=True, blank=True)
    close = PriceField(null=True, blank=True)
    market_data_type = models.PositiveSmallIntegerField(
        choices=MarketDataType.choices, null=True, blank=True,
        help_text="IBKR market-data type; empty for typed-in quotes.",
    )
    source = models.CharField(max_length=16, choices=DataSource.choices)
    as_of = models.DateTimeField(help_text="When the broker (or the operator) observed the quote.")
    valid = models.BooleanField(
        help_text="False when the quote cannot be used for a decision (see the reason)."
    )
    invalid_reason = models.CharField(max_length=200, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-as_of"]
        get_latest_by = "as_of"
        indexes = [models.Index(fields=["instrument", "-as_of"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(bid__isnull=True) | Q(bid__gte=0))
                & (Q(ask__isnull=True) | Q(ask__gte=0))
                & (Q(last__isnull=True) | Q(last__gte=0))
                & (Q(close__isnull=True) | Q(close__gte=0)),
                name="quote_prices_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(valid=True) | Q(bid__isnull=True) | Q(ask__isnull=True) | Q(bid__lte=F("ask")),
                name="quote_valid_is_not_crossed",
            ),
            models.CheckConstraint(
                condition=Q(valid=False) | Q(invalid_reason=""), name="quote_valid_has_no_reason"
            ),
            models.CheckConstraint(
                condition=Q(valid=True) | ~Q(invalid_reason=""), name="quote_invalid_says_why"
            ),
        ]

    def __str__(self):
        return f"{self.instrument} {self.bid}/{self.ask} @ {self.as_of:%Y-%m-%d %H:%M}"

    @property
    def mid(self):
        if self.valid and self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return None

    @property
    def width(self):
        if self.bid is not None and self.ask is not None:
            return self.ask - self.bid
        return None


class BrokerSnapshot(models.Model):
    """What the broker reported at one moment: account figures and every position.

    ``simulated`` is decided from the account id (SIM...), never from a setting.
    """

    as_of = models.DateTimeField()
    account = models.CharField(max_length=32)
    simulated = models.BooleanField()
    net_liquidation = MoneyField(null=True, blank=True)
    excess_liquidity = MoneyField(null=True, blank=True)
    maint_margin_req = MoneyField("maintenance margin", null=True, blank=True)
    available_funds = MoneyField(null=True, blank=True)
    total_cash_value = MoneyField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    positions = models.JSONField(
        default=list, blank=True,
        help_text="Each position: con_id, local_symbol, sec_type, quantity, avg_cost (TWS: per unit x multiplier).",
    )
    requested_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-as_of", "-id"]
        get_latest_by = "as_of"
        verbose_name = "broker snapshot"

    def __str__(self):
        return f"{self.account} at {self.as_of:%Y-%m-%d %H:%M}"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


class Alert(models.Model):
    """Something the operator must know or do.

    An alert that is still true on a later run is the same row (same ``code`` and ``subject``):
    ``last_seen_at``, ``last_session`` and ``occurrences`` move, no copy is made. It is resolved when
    its condition no longer holds. Acknowledged is not resolved: an acknowledged alert stays open,
    listed and counted apart, until its rule resolves it (DECISIONS.md section 10).
    """

    severity = models.CharField(max_length=8, choices=Severity.choices)
    code = models.CharField(max_length=48, help_text="What kind of alert, e.g. roll_due or stop_hit.")
    subject = models.CharField(
        max_length=120, blank=True, help_text="What it is about, e.g. a contract or a date; with code, its identity."
    )
    # By name, not by import: the kernel sits below sleeves; an alert may name the sleeve it is about.
    sleeve = models.ForeignKey("sleeves.Sleeve", null=True, blank=True, on_delete=models.PROTECT, related_name="alerts")
    message = models.TextField(help_text="What is wrong and what to do.")
    # What it is about (a roll, a fill, a contract...), by content type: the kernel names no upper model.
    about_type = models.ForeignKey(
        "contenttypes.ContentType", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    about_id = models.CharField(max_length=64, blank=True, help_text="The key of the object it is about.")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    # Dated by trading session as well as by time (a closed day: the last NYSE session). Empty on rows
    # stored before sessions were recorded.
    first_session = models.DateField(null=True, blank=True, help_text="The session it was first raised for.")
    last_session = models.DateField(null=True, blank=True, help_text="The latest session it was raised for.")
    occurrences = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Moved here from digests (alerts are raised on every floor); the table keeps its name.
        db_table = "digests_alert"
        ordering = ["resolved_at", "-last_seen_at", "-id"]
        indexes = [
            models.Index(fields=["resolved_at", "-last_seen_at"]),
            models.Index(fields=["severity", "-last_seen_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "subject"], condition=Q(resolved_at__isnull=True), name="one_open_alert_per_subject"
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="alert_ack_has_who_and_when",
            ),
            models.CheckConstraint(condition=Q(severity__in=["critical", "warning", "info"]), name="alert_severity_valid"),
        ]

    def __str__(self):
        return f"[{self.severity}] {self.code}: {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def marked_severity(self) -> str:
        """The severity to show in its colour: only while the alert is open and nobody has acknowledged it.
        Acknowledged or resolved, it is shown plain and counted apart (DECISIONS.md section 10)."""
        return self.severity if self.resolved_at is None and self.acknowledged_at is None else ""

    @property
    def state(self) -> str:
        """resolved / acknowledged / open, in the operator's words."""
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "open"
