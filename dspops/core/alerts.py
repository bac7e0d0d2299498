"""Alerts: the registry of every alert code, and the services that raise, resolve and acknowledge them.

An alert's identity is (code, subject). Raising one that is already open refreshes it (last seen,
occurrences, severity, message) instead of adding a copy. Every code is registered here with its
title, its usual severity, the operator's advice and the rule that resolves it; raising an
unregistered code is a programming error. Delivery (email, notifications) is not done here: the
site listens to ``alert_raised`` and pushes critical alerts to the operator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from dspops.core.models import Alert, Severity

# Sent after the transaction that opened or refreshed an alert commits; kwargs: alert (the row).
alert_raised = Signal()


@dataclass(frozen=True)
class AlertKind:
    """One alert code: what it is called, how serious it usually is, what to do, and what clears it.

    `severity` is the default; a rule may raise the same code more severely as it gets worse (a roll
    due today, a gate CLOSED rather than REDUCE), and says so by passing the severity.
    """

    code: str
    title: str
    severity: str
    advice: str
    resolved_when: str


REGISTRY: dict[str, AlertKind] = {kind.code: kind for kind in (
    # Raised by the VRP-CS rules of the digest (digests.alert_rules).
    AlertKind("cs_levels_invalid", "VRP-CS stop or take-profit on the wrong side", Severity.CRITICAL,
              "Fix the stop and take-profit in the VRP-CS position config.",
              "the config's stop is below and its take-profit above the entry spread"),
    AlertKind("cs_stop_loss", "VRP-CS spread at or below its stop", Severity.CRITICAL,
              "Close the spread (both legs) as the runbook says.", "the spread is back above the stop"),
    AlertKind("cs_take_profit", "VRP-CS spread at or above its take-profit", Severity.CRITICAL,
              "Take the profit: close the spread (both legs).", "the spread is back below the take-profit"),
    AlertKind("cs_gate", "VRP-CS gate not OPEN", Severity.WARNING,
              "Do not open or roll into a new spread while the gate is not OPEN.", "the gate is OPEN again"),
    AlertKind("monitor_run_missing", "A monitor did not run", Severity.WARNING,
              "Run the monitor from the dashboard or its command.", "the monitor has a run for the session"),
    AlertKind("monitor_data_unavailable", "A monitor had no data", Severity.WARNING,
              "Check the broker connection and the missing inputs, then run the monitor again.",
              "the monitor's latest run has its data"),
    AlertKind("data_stale", "An input is stale", Severity.WARNING,
              "Refresh the broker snapshot or import the missing prices.", "the input is fresh for the session"),
    AlertKind("roll_due", "VRP-CS roll due", Severity.WARNING,
              "Walk the roll checklist before the roll-by session.", "the roll is done or the config moved on"),
    AlertKind("erp_drift", "VRP-ERP drift past its threshold", Severity.WARNING,
              "Rebalance SPY to the target in the trading window.", "the drift is back within the threshold"),
    AlertKind("vol_target_stale", "Vol-target overlay not updated", Severity.WARNING,
              "Run the vol-target command.", "the overlay has a value for the session"),
    AlertKind("spread_legs_expired", "VRP-CS config holds expired legs", Severity.CRITICAL,
              "Record the roll (or the close) so the config describes what is held.",
              "the active config's short leg settles after today"),
    AlertKind("fill_unattributed", "A broker fill belongs to no sleeve", Severity.WARNING,
              "Attribute the fill to its sleeve on the fills page.", "the fill is attributed or recorded"),
    # Raised by reconciliation (sleeves.reconcile).
    AlertKind("reconciliation_break", "Broker and recorded positions differ", Severity.CRITICAL,
              "Compare with TWS; record or pull the missing fills.", "the broker and the fills agree"),
    # Raised by the roll services (rolls.roll_service).
    AlertKind("roll_leg_unfilled", "A roll leg is not filled", Severity.WARNING,
              "Check the working order in TWS; record the fill when it comes.", "every leg is recorded"),
    AlertKind("orphan_leg", "A roll left a leg without its pair", Severity.CRITICAL,
              "Enter the orders the roll page gives to close the orphan legs.", "the broker holds a whole spread"),
    AlertKind("roll_fills_not_at_broker", "A roll's recorded fills are not at the broker", Severity.CRITICAL,
              "The broker still holds the spread as it was before the roll: check TWS executions, pull the fills, "
              "or reverse the recorded fills. Do not trade the roll again.",
              "the broker shows the roll's fills, or the recorded fills are reversed"),
    # Raised by the VRP-CS monitor and by reconciliation (sleeves), whatever a roll is doing.
    AlertKind("naked_leg", "VRP-CS holds a leg without its pair", Severity.CRITICAL,
              "Enter the order the alert names to flatten each leg that is not part of the configured spread, or "
              "correct the position config if it is wrong.",
              "the VXM holding is exactly -q front / +q next month of the config"),
    # Raised by the digest service when the live job that feeds it could not reach TWS.
    AlertKind("broker_unavailable", "TWS could not be reached", Severity.CRITICAL,
              "Start TWS or IB Gateway and check its API settings, then run again.",
              "a later live run reaches TWS"),
    # Raised by the legacy import (the site).
    AlertKind("legacy_trades_unreconciled", "Legacy trades not matched to fills", Severity.WARNING,
              "Review the legacy order records and record the fills they describe.",
              "the operator acknowledges or records the fills"),
)}

CODES = tuple(REGISTRY)


def kind_of(code: str) -> AlertKind:
    """The registered kind of `code`; an unregistered code is a programming error."""
    try:
        return REGISTRY[code]
    except KeyError:
        raise ValueError(f"Unknown alert code {code!r}: register it in dspops.core.alerts.REGISTRY.") from None


def raise_alert(
    *, code: str, message: str, severity: str | None = None, subject: str = "", sleeve=None, now=None
) -> Alert:
    """Open an alert, or refresh the open one with the same code and subject.

    `severity` defaults to the code's registered severity. `sleeve` is the sleeves.Sleeve row the
    alert is about, if any.
    """
    severity = severity or kind_of(code).severity
    if severity not in Severity.values:
        raise ValueError(f"Unknown alert severity {severity!r}; expected one of {', '.join(Severity.values)}.")
    now = now or timezone.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(code=code, subject=subject, resolved_at__isnull=True).first()
        if alert is None:
            alert = Alert.objects.create(
                code=code, subject=subject, severity=severity, message=message, sleeve=sleeve,
                first_seen_at=now, last_seen_at=now,
            )
        else:
            alert.severity = severity
            alert.message = message
            alert.sleeve = sleeve
            alert.last_seen_at = now
            alert.occurrences += 1
            alert.save(update_fields=["severity", "message", "sleeve", "last_seen_at", "occurrences"])
        transaction.on_commit(lambda: alert_raised.send(sender=Alert, alert=alert))
    return alert


def resolve_alerts(*, code: str, keep_subjects: Iterable[str] = (), now=None) -> int:
    """Resolve the open alerts of ``code`` whose subject is not in ``keep_subjects``."""
    kind_of(code)
    now = now or timezone.now()
    return (
        Alert.objects.filter(code=code, resolved_at__isnull=True)
        .exclude(subject__in=list(keep_subjects))
        .update(resolved_at=now)
    )


def acknowledge_alert(*, alert: Alert, user, now=None) -> Alert:
    if alert.acknowledged_at is None:
        alert.acknowledged_by = user
        alert.acknowledged_at = now or timezone.now()
        alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
    return alert
