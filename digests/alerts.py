"""Alert services: raise, refresh, resolve and acknowledge alerts.

An alert's identity is (code, subject). Raising one that is already open refreshes it (last
seen, occurrences, severity, message) instead of adding a copy. Critical alerts are emailed
once, when first raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from digests.models import Alert, Severity
from sleeves.models import Sleeve

log = logging.getLogger("dspops.alerts")


def raise_alert(
    *, code: str, severity: str, message: str, subject: str = "", sleeve: Sleeve | None = None, now=None
) -> Alert:
    """Open an alert, or refresh the open one with the same code and subject."""
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
        if alert.severity == Severity.CRITICAL and alert.emailed_at is None:
            transaction.on_commit(lambda: _email(alert.pk))
    return alert


def resolve_alerts(*, code: str, keep_subjects: Iterable[str] = (), now=None) -> int:
    """Resolve the open alerts of ``code`` whose subject is not in ``keep_subjects``."""
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


def _email(alert_pk: int) -> None:
    alert = Alert.objects.get(pk=alert_pk)
    recipients = settings.ALERT_EMAIL_TO or [admin_email for _, admin_email in getattr(settings, "ADMINS", [])]
    try:
        send_mail(
            subject=f"[dspops CRITICAL] {alert.code}: {alert.subject}"[:200],
            message=alert.message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients or ["operator@localhost"],
        )
    except OSError as exc:  # an SMTP outage must not lose the alert itself
        log.error("Could not email critical alert %s: %s", alert.pk, exc)
        return
    Alert.objects.filter(pk=alert.pk).update(emailed_at=timezone.now())
