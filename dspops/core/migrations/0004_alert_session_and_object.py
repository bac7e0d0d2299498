"""Alerts are dated by trading session and may name the object they are about.

Existing rows get the sessions their first and last times fall in (a closed day: the last session).
"""

import django.db.models.deletion
from django.db import migrations, models


def date_existing_alerts_by_session(apps, schema_editor):
    from dspops.core import calendars

    def session_of(moment):
        try:
            return calendars.session_on_or_before(calendars.trading_date(moment))
        except calendars.CalendarRangeError:
            return None

    Alert = apps.get_model("dspops", "Alert")
    for alert in Alert.objects.filter(first_session__isnull=True).only("first_seen_at", "last_seen_at").iterator():
        alert.first_session = session_of(alert.first_seen_at)
        alert.last_session = session_of(alert.last_seen_at)
        alert.save(update_fields=["first_session", "last_session"])


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('dspops', '0003_alert_from_digests'),
    ]

    operations = [
        migrations.AddField(
            model_name='alert',
            name='about_id',
            field=models.CharField(blank=True, help_text='The key of the object it is about.', max_length=64),
        ),
        migrations.AddField(
            model_name='alert',
            name='about_type',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='contenttypes.contenttype'),
        ),
        migrations.AddField(
            model_name='alert',
            name='first_session',
            field=models.DateField(blank=True, help_text='The session it was first raised for.', null=True),
        ),
        migrations.AddField(
            model_name='alert',
            name='last_session',
            field=models.DateField(blank=True, help_text='The latest session it was raised for.', null=True),
        ),
        migrations.RunPython(date_existing_alerts_by_session, migrations.RunPython.noop),
    ]
