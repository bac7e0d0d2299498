"""Alert moves from digests into the kernel; its table stays digests_alert."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from dspops.core.model_moves import move_content_types


class Migration(migrations.Migration):

    dependencies = [
        ('digests', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('dspops', '0002_broker_snapshot'),
        ('sleeves', '0003_run_tasks_permission'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # State only: the table (and its rows) stay where they are.
        migrations.SeparateDatabaseAndState(state_operations=[
                migrations.CreateModel(
                    name='Alert',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('severity', models.CharField(choices=[('critical', 'Critical'), ('warning', 'Warning'), ('info', 'Info')], max_length=8)),
                        ('code', models.CharField(help_text='What kind of alert, e.g. roll_due or stop_hit.', max_length=48)),
                        ('subject', models.CharField(blank=True, help_text='What it is about, e.g. a contract or a date; with code, its identity.', max_length=120)),
                        ('message', models.TextField(help_text='What is wrong and what to do.')),
                        ('first_seen_at', models.DateTimeField()),
                        ('last_seen_at', models.DateTimeField()),
                        ('occurrences', models.PositiveIntegerField(default=1)),
                        ('resolved_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                        ('emailed_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('sleeve', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='alerts', to='sleeves.sleeve')),
                    ],
                    options={
                        'db_table': 'digests_alert',
                        'ordering': ['resolved_at', '-last_seen_at', '-id'],
                        'indexes': [models.Index(fields=['resolved_at', '-last_seen_at'], name='digests_ale_resolve_035152_idx'), models.Index(fields=['severity', '-last_seen_at'], name='digests_ale_severit_bed5da_idx')],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('resolved_at__isnull', True)), fields=('code', 'subject'), name='one_open_alert_per_subject'), models.CheckConstraint(condition=models.Q(models.Q(('acknowledged_at__isnull', True), ('acknowledged_by__isnull', True)), models.Q(('acknowledged_at__isnull', False), ('acknowledged_by__isnull', False)), _connector='OR'), name='alert_ack_has_who_and_when'), models.CheckConstraint(condition=models.Q(('severity__in', ['critical', 'warning', 'info'])), name='alert_severity_valid')],
                    },
                ),
        ]),
        move_content_types('digests', 'dspops', ('alert',)),
    ]
