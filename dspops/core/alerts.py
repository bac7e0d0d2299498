"""Alerts: the registry of every alert code, and the services that raise, resolve and acknowledge them.

An alert's identity is (code, subject). Raising one that is already open refreshes it (last seen,
last session, occurrences, severity, message) instead of adding a copy. Every code is registered
here once with its title, its usual severity, the operator's advice, the kind of object it is about
(and so where its link goes) and the rule that resolves it; raising an unregistered code without a
severity is a programming error. Delivery (email, notifications) is not done here: the site
listens to ``alert_raised`` and pushes critical alerts to the operator.

Acknowledged is not resolved (DECISIONS.md section 10): acknowledging says "I have seen it"; the
alert stays open, listed and counted apart, until the rule that raised it resolves it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.dispatch import Signal
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from dspops.core import calendars, clock, formats
from dspops.core.models import Alert, Severity

# Sent after the transaction that opened or refreshed an alert commits; kwargs: alert (the row).
alert_raised = Signal()


@dataclass(frozen=True)
class AlertKind:
    """One alert code: what it is called, how serious it usually is, what to do, and what clears it.

    `severity` is the default; a rule may raise the same code more severely as it gets worse (a roll
    due today, a gate CLOSED rather than REDUCE), and says so by passing the severity.

    `about` is the model ("app_label.model_name") of the object the alert is about, and `about_label`
    what the operator calls it. An alert raised with ``about=<that object>`` links to the object's
    page; one raised without it links to the list of such objects.

    `operator_resolves`: no rule can see the cause go (the legacy import's order records carry no
    fills to match), so an Operator resolves it on the alert's page, and who did is recorded.
    """

    code: str
    title: str
    severity: str
    advice: str
    resolved_when: str
    about: str
    about_label: str
    operator_resolves: bool = False


REGISTRY: dict[str, AlertKind] = {kind.code: kind for kind in (
    # Raised by the VRP-CS rules of the digest (digests.alert_rules).
    AlertKind("cs_levels_invalid", "VRP-CS stop or take-profit on the wrong side", Severity.CRITICAL,
              "Fix the stop and take-profit in the VRP-CS position config.",
              "the config's stop is below and its take-profit above the entry spread",
              "sleeves.spreadposition", "position config"),
    AlertKind("cs_stop_loss", "VRP-CS spread at or below its stop", Severity.CRITICAL,
              "Close the spread (both legs) as the runbook says.", "the spread is back above the stop",
              "sleeves.spreadposition", "position config"),
    AlertKind("cs_take_profit", "VRP-CS spread at or above its take-profit", Severity.CRITICAL,
              "Take the profit: close the spread (both legs).", "the spread is back below the take-profit",
              "sleeves.spreadposition", "position config"),
    AlertKind("cs_gate", "VRP-CS gate not OPEN", Severity.WARNING,
              "Do not open or roll into a new spread while the gate is not OPEN.", "the gate is OPEN again",
              "sleeves.monitorrun", "monitor run"),
    AlertKind("monitor_run_missing", "A monitor did not run", Severity.WARNING,
              "Run the monitor from the dashboard or its command.", "the monitor has a run for the session",
              "sleeves.monitorrun", "monitor runs"),
    AlertKind("monitor_data_unavailable", "A monitor had no data", Severity.WARNING,
              "Check the broker connection and the missing inputs, then run the monitor again.",
              "the monitor's latest run has its data",
              "sleeves.monitorrun", "monitor run"),
    AlertKind("data_stale", "An input is stale", Severity.WARNING,
              "Refresh the broker snapshot or import the missing prices.", "the input is fresh for the session",
              "dspops.instrument", "contract"),
    AlertKind("roll_due", "VRP-CS roll due", Severity.WARNING,
              "Walk the roll checklist before the roll-by session.", "the roll is done or the config moved on",
              "sleeves.spreadposition", "position config"),
    AlertKind("erp_drift", "VRP-ERP drift past its threshold", Severity.WARNING,
              "Rebalance SPY to the target in the trading window.", "the drift is back within the threshold",
              "sleeves.monitorrun", "monitor run"),
    AlertKind("vol_target_stale", "Vol-target overlay not updated", Severity.WARNING,
              "Run the vol-target command.", "the overlay has a value for the session",
              "sleeves.voltargetstate", "vol-target state"),
    AlertKind("spread_legs_expired", "VRP-CS config holds expired legs", Severity.CRITICAL,
              "Record the roll (or the close) so the config describes what is held.",
              "the active config's short leg settles after today",
              "sleeves.spreadposition", "position config"),
    AlertKind("fill_unattributed", "A broker fill belongs to no sleeve", Severity.WARNING,
              "Attribute the fill to its sleeve on the fills page.", "the fill is attributed or recorded",
              "sleeves.fill", "fill"),
    # Raised by reconciliation (sleeves.reconcile).
    AlertKind("reconciliation_break", "Broker and recorded positions differ", Severity.CRITICAL,
              "Compare with TWS; record or pull the missing fills.", "the broker and the fills agree",
              "dspops.instrument", "contract"),
    # Raised by reconciliation when the positions table the fills keep differs from a replay of the fills.
    AlertKind("positions_out_of_step", "Positions differ from the fills", Severity.CRITICAL,
              "Run `manage.py rebuild_positions` (it repairs the positions from the fills), then reconcile again. "
              "Until then the positions, P&L and reconciliation shown may be wrong.",
              "reconciliation finds the positions and the fills agree",
              "sleeves.sleeveposition", "positions"),
    # Raised by the roll services (rolls.roll_service).
    AlertKind("roll_leg_unfilled", "A roll leg is not filled", Severity.WARNING,
              "Check the working order in TWS; record the fill when it comes.", "every leg is recorded",
              "rolls.rollattempt", "roll"),
    AlertKind("orphan_leg", "A roll left a leg without its pair", Severity.CRITICAL,
              "Enter the orders the roll page gives to close the orphan legs.", "the broker holds a whole spread",
              "rolls.rollattempt", "roll"),
    AlertKind("roll_fills_not_at_broker", "A roll's recorded fills are not at the broker", Severity.CRITICAL,
              "The broker still holds the spread as it was before the roll: check TWS executions, pull the fills, "
              "or reverse the recorded fills. Do not trade the roll again.",
              "the broker shows the roll's fills, or the recorded fills are reversed",
              "rolls.rollattempt", "roll"),
    # Raised by the VRP-CS monitor and by reconciliation (sleeves), whatever a roll is doing.
    AlertKind("naked_leg", "VRP-CS holds a leg without its pair", Severity.CRITICAL,
              "Enter the order the alert names to flatten each leg that is not part of the configured spread, or "
              "correct the position config if it is wrong.",
              "the VXM holding is exactly -q front / +q next month of the config",
              "dspops.instrument", "contract"),
    # Raised by the digest service when the live job that feeds it could not reach TWS.
    AlertKind("broker_unavailable", "TWS could not be reached", Severity.CRITICAL,
              "Start TWS or IB Gateway and check its API settings, then run again.",
              "a later live run reaches TWS",
              "dspops.brokersnapshot", "broker snapshots"),
    # Raised by the legacy import (the site).
    AlertKind("legacy_trades_unreconciled", "Legacy trades not matched to fills", Severity.WARNING,
              "Review the legacy order records and record the fills they describe.",
              "an Operator confirms on the alert's page that the fills it describes are recorded (order records "
              "carry no fills a rule could match)",
              "sleeves.fill", "fills", operator_resolves=True),
)}

CODES = tuple(REGISTRY)


def kind_of(code: str) -> AlertKind:
    """The registered kind of `code`; an unregistered code is a programming error."""
    try:
        return REGISTRY[code]
    except KeyError:
        raise ValueError(f"Unknown alert code {code!r}: register it in dspops.core.alerts.REGISTRY.") from None


def session_of(now: datetime) -> date | None:
    """The NYSE session ``now`` falls in (a closed day: the last session); None outside the calendar."""
    try:
        return clock.current_session(now)
    except calendars.CalendarRangeError:
        return None


# Most serious first: a refresh to a lower rank is worse than what was acknowledged.
SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def raise_alert(
    *, code: str, message: str, severity: str | None = None, subject: str = "", sleeve=None, now=None,
    about: models.Model | None = None, session: date | None = None,
) -> Alert:
    """Open an alert, or refresh the open one with the same code and subject.

    `severity` defaults to the code's registered severity. `sleeve` is the sleeves.Sleeve row the
    alert is about, if any; `about` the object it is about (a roll, a fill, a contract: the kind the
    registry names), whose page the alert links to. `session` is the trading session the alert is
    raised for (a digest of Friday built on Saturday passes Friday); by default the session of `now`.
    """
    kind = kind_of(code)  # an unregistered code is refused even with its severity given
    severity = severity or kind.severity
    if severity not in Severity.values:
        raise ValueError(f"Unknown alert severity {severity!r}; expected one of {', '.join(Severity.values)}.")
    now = now or timezone.now()
    session = session or session_of(now)
    reference = {}
    if about is not None:
        if about.pk is None:
            raise ValueError(f"An alert can only be about a stored object; {about!r} has no key yet.")
        reference = {"about_type": ContentType.objects.get_for_model(about), "about_id": str(about.pk)}
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(code=code, subject=subject, resolved_at__isnull=True).first()
        if alert is None:
            alert = Alert.objects.create(
                code=code, subject=subject, severity=severity, message=message, sleeve=sleeve,
                first_seen_at=now, last_seen_at=now, first_session=session, last_session=session, **reference,
            )
        else:
            fields = ["severity", "message", "sleeve", "last_seen_at", "first_session", "last_session", "occurrences"]
            if alert.acknowledged_at is not None and SEVERITY_RANK[severity] < SEVERITY_RANK[alert.severity]:
                # Worse than what was acknowledged (a near stop that is now hit): it must be seen again.
                alert.acknowledged_at = alert.acknowledged_by = None
                fields += ["acknowledged_at", "acknowledged_by"]
            alert.severity = severity
            alert.message = message
            alert.sleeve = sleeve
            alert.last_seen_at = max(alert.last_seen_at, now)
            # A digest built again for an earlier session refreshes the alert but does not move it back.
            if session is not None and (alert.last_session is None or session > alert.last_session):
                alert.last_session = session
            if alert.first_session is None or (session is not None and session < alert.first_session):
                alert.first_session = session
            alert.occurrences += 1
            for name, value in reference.items():
                setattr(alert, name, value)
                fields.append(name)
            alert.save(update_fields=fields)
        transaction.on_commit(lambda: alert_raised.send(sender=Alert, alert=alert))
    return alert


def resolve_alerts(*, code: str, keep_subjects: Iterable[str] = (), now=None) -> int:
    """Resolve the open alerts of ``code`` whose subject is not in ``keep_subjects``.

    Acknowledged or not: resolving is the rule's answer that the cause is gone.
    """
    kind_of(code)
    now = now or timezone.now()
    return (
        Alert.objects.filter(code=code, resolved_at__isnull=True)
        .exclude(subject__in=list(keep_subjects))
        .update(resolved_at=now)
    )


def acknowledge_alert(*, alert: Alert, user, now=None) -> bool:
    """Mark an open alert as seen by ``user``. It stays open, listed and counted apart, until its rule
    resolves it. Returns False (and changes nothing) when it was already acknowledged or is resolved.

    A conditional UPDATE: two operators pressing Acknowledge at once record one acknowledgement.
    """
    now = now or timezone.now()
    changed = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True, resolved_at__isnull=True).update(
        acknowledged_by=user, acknowledged_at=now)
    alert.refresh_from_db(fields=["acknowledged_by", "acknowledged_at", "resolved_at"])
    return changed == 1


def resolve_by_operator(*, alert: Alert, user, now=None) -> bool:
    """Resolve an open alert whose code an Operator resolves (AlertKind.operator_resolves), recording who in its
    acknowledgement if nobody had acknowledged it. Returns False when it was already resolved. Raises
    ValueError for a code its rule resolves: a person never closes what a rule still sees.
    """
    if not kind_of(alert.code).operator_resolves:
        raise ValueError(f"{title_of(alert)} is resolved by its rule ({kind_of(alert.code).resolved_when}), "
                         "not by hand.")
    now = now or timezone.now()
    with transaction.atomic():
        changed = Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(resolved_at=now)
        if changed:
            Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(acknowledged_by=user,
                                                                                   acknowledged_at=now)
    alert.refresh_from_db(fields=["acknowledged_by", "acknowledged_at", "resolved_at"])
    return changed == 1


# --- how an alert is shown: the registry's words and a link to what it is about --------------------


def title_of(alert: Alert) -> str:
    kind = REGISTRY.get(alert.code)
    return kind.title if kind else alert.code


def advice_of(alert: Alert) -> str:
    kind = REGISTRY.get(alert.code)
    return kind.advice if kind else ""


@dataclass(frozen=True)
class AboutLink:
    label: str  # what the operator calls it: "roll", "contract", "monitor runs"
    url: str


def about_link(alert: Alert) -> AboutLink | None:
    """The admin page of the object the alert is about; without a stored object, the list of that kind.

    None when the code is unregistered and no object was stored, or the page does not exist.
    """
    kind = REGISTRY.get(alert.code)
    if alert.about_type_id and alert.about_id:
        content_type = ContentType.objects.get_for_id(alert.about_type_id)
        label = kind.about_label if kind and kind.about == f"{content_type.app_label}.{content_type.model}" \
            else str(content_type.model_class()._meta.verbose_name if content_type.model_class() else content_type)
        try:
            url = reverse(f"admin:{content_type.app_label}_{content_type.model}_change", args=[alert.about_id])
        except NoReverseMatch:
            return None
        return AboutLink(label, url)
    if kind is None:
        return None
    app_label, model = kind.about.split(".")
    try:
        return AboutLink(kind.about_label, reverse(f"admin:{app_label}_{model}_changelist"))
    except NoReverseMatch:
        return None


@dataclass(frozen=True)
class AlertView:
    """An alert as a page shows it: the registry's title and advice, its link, and its state in words."""

    alert: Alert
    title: str
    advice: str
    link: AboutLink | None
    acknowledged: str  # "acknowledged by operator at 10:05 ET", or ""


def acknowledged_text(alert: Alert, *, today: date | None = None) -> str:
    """"acknowledged by operator at 10:05 ET" (with its date when that is not ``today``), or ""."""
    if alert.acknowledged_at is None:
        return ""
    who = alert.acknowledged_by.get_username() if alert.acknowledged_by_id else "someone"
    when = formats.clock_time(alert.acknowledged_at)
    if clock.trading_date(alert.acknowledged_at) != (today or clock.trading_date()):
        when = formats.moment(alert.acknowledged_at)
    return f"acknowledged by {who} at {when}"


def describe(alert: Alert, *, today: date | None = None) -> AlertView:
    return AlertView(alert=alert, title=title_of(alert), advice=advice_of(alert), link=about_link(alert),
                     acknowledged=acknowledged_text(alert, today=today))
