"""Pushing alerts to the operator (the site floor): a critical alert is emailed once, when first raised.

The kernel raises alerts and sends ``alert_raised``; this module, connected in SiteConfig.ready(),
delivers them, so no floor below the site knows how the operator is reached.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from dspops.core.models import Alert, Severity

log = logging.getLogger("dspops.alerts")


def on_alert_raised(sender, *, alert: Alert, **kwargs) -> None:
    if alert.severity == Severity.CRITICAL and alert.emailed_at is None:
        email_alert(alert.pk)


def email_alert(alert_pk: int) -> None:
    alert = Alert.objects.get(pk=alert_pk)
    if alert.emailed_at is not None:
        return
    recipients = settings.ALERT_EMAIL_TO or [admin_email for _, admin_email in getattr(settings, "ADMINS", [])]
    try:
        send_mail(
            subject=(f"[dspops CRITICAL] {alert.code}" + (f": {alert.subject}" if alert.subject else ""))[:200],
            message=alert.message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients or ["operator@localhost"],
        )
    except OSError as exc:  # an SMTP outage must not lose the alert itself
        log.error("Could not email critical alert %s: %s", alert.pk, exc)
        return
    Alert.objects.filter(pk=alert.pk).update(emailed_at=timezone.now())
