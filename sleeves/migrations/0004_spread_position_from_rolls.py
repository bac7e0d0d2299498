"""The VRP-CS position config moves from rolls into sleeves; its tables (and history) keep their names."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models

from dspops.core.model_moves import move_content_types


class Migration(migrations.Migration):

    dependencies = [
        ('rolls', '0002_roll_attempts'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('dspops', '0003_alert_from_digests'),
        ('sleeves', '0003_run_tasks_permission'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # State only: the table (and its rows) stay where they are.
        migrations.SeparateDatabaseAndState(state_operations=[
                migrations.CreateModel(
                    name='HistoricalSpreadPosition',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('quantity', models.PositiveIntegerField(help_text='Spreads held: -quantity front, +quantity back.')),
                        ('short_entry_price', models.DecimalField(decimal_places=6, max_digits=16)),
                        ('long_entry_price', models.DecimalField(decimal_places=6, max_digits=16)),
                        ('entry_date', models.DateField()),
                        ('entry_spread', models.DecimalField(decimal_places=6, help_text='Long entry price minus short entry price.', max_digits=16)),
                        ('stop_loss_spread', models.DecimalField(decimal_places=6, help_text='Exit when the spread falls to or below this.', max_digits=16)),
                        ('take_profit_spread', models.DecimalField(decimal_places=6, help_text='Exit when the spread rises to or above this.', max_digits=16)),
                        ('settlement_date', models.DateField(help_text='Final settlement of the short (front) leg.')),
                        ('roll_by', models.DateField(help_text='Roll by this CFE session.')),
                        ('is_active', models.BooleanField(default=True, help_text='The position the monitors watch. At most one per sleeve.')),
                        ('note', models.TextField(blank=True)),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.CharField(max_length=100, null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('long_leg', models.ForeignKey(blank=True, db_constraint=False, help_text='The next month, held long.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='dspops.instrument')),
                        ('short_leg', models.ForeignKey(blank=True, db_constraint=False, help_text='The front month, held short.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='dspops.instrument')),
                        ('sleeve', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='sleeves.sleeve')),
                    ],
                    options={
                        'verbose_name': 'historical VRP-CS position config',
                        'verbose_name_plural': 'historical VRP-CS position config',
                        'db_table': 'rolls_historicalspreadposition',
                        'ordering': ('-history_date', '-history_id'),
                        'get_latest_by': ('history_date', 'history_id'),
                    },
                    bases=(simple_history.models.HistoricalChanges, models.Model),
                ),
                migrations.CreateModel(
                    name='SpreadPosition',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('quantity', models.PositiveIntegerField(help_text='Spreads held: -quantity front, +quantity back.')),
                        ('short_entry_price', models.DecimalField(decimal_places=6, max_digits=16)),
                        ('long_entry_price', models.DecimalField(decimal_places=6, max_digits=16)),
                        ('entry_date', models.DateField()),
                        ('entry_spread', models.DecimalField(decimal_places=6, help_text='Long entry price minus short entry price.', max_digits=16)),
                        ('stop_loss_spread', models.DecimalField(decimal_places=6, help_text='Exit when the spread falls to or below this.', max_digits=16)),
                        ('take_profit_spread', models.DecimalField(decimal_places=6, help_text='Exit when the spread rises to or above this.', max_digits=16)),
                        ('settlement_date', models.DateField(help_text='Final settlement of the short (front) leg.')),
                        ('roll_by', models.DateField(help_text='Roll by this CFE session.')),
                        ('is_active', models.BooleanField(default=True, help_text='The position the monitors watch. At most one per sleeve.')),
                        ('note', models.TextField(blank=True)),
                        ('long_leg', models.ForeignKey(help_text='The next month, held long.', on_delete=django.db.models.deletion.PROTECT, related_name='+', to='dspops.instrument')),
                        ('short_leg', models.ForeignKey(help_text='The front month, held short.', on_delete=django.db.models.deletion.PROTECT, related_name='+', to='dspops.instrument')),
                        ('sleeve', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='spread_positions', to='sleeves.sleeve')),
                    ],
                    options={
                        'verbose_name': 'VRP-CS position config',
                        'verbose_name_plural': 'VRP-CS position config',
                        'db_table': 'rolls_spreadposition',
                        'ordering': ['-is_active', '-entry_date', '-id'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('is_active', True)), fields=('sleeve',), name='one_active_spread_per_sleeve'), models.CheckConstraint(condition=models.Q(('quantity__gt', 0)), name='spread_quantity_positive'), models.CheckConstraint(condition=models.Q(('short_leg', models.F('long_leg')), _negated=True), name='spread_legs_differ'), models.CheckConstraint(condition=models.Q(('stop_loss_spread__lt', models.F('entry_spread'))), name='spread_stop_below_entry', violation_error_message='The stop must be below the entry spread (the loss side).'), models.CheckConstraint(condition=models.Q(('take_profit_spread__gt', models.F('entry_spread'))), name='spread_take_profit_above_entry', violation_error_message='The take-profit must be above the entry spread (the profit side).'), models.CheckConstraint(condition=models.Q(('roll_by__lt', models.F('settlement_date'))), name='spread_roll_by_before_settlement'), models.CheckConstraint(condition=models.Q(('short_entry_price__gt', 0), ('long_entry_price__gt', 0)), name='spread_entry_prices_positive')],
                    },
                ),
        ]),
        move_content_types('rolls', 'sleeves', ('spreadposition', 'historicalspreadposition')),
    ]
