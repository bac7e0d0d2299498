"""The VRP-CS position config now lives in sleeves; roll attempts point at it there. No table changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rolls', '0002_roll_attempts'),
        ('sleeves', '0004_spread_position_from_rolls'),
    ]

    operations = [
        # State only: the table (and its rows) stay where they are.
        migrations.SeparateDatabaseAndState(state_operations=[
                migrations.RemoveField(
                    model_name='spreadposition',
                    name='long_leg',
                ),
                migrations.RemoveField(
                    model_name='spreadposition',
                    name='short_leg',
                ),
                migrations.RemoveField(
                    model_name='spreadposition',
                    name='sleeve',
                ),
                migrations.AlterField(
                    model_name='rollattempt',
                    name='position',
                    field=models.ForeignKey(help_text='The position config being rolled.', on_delete=django.db.models.deletion.PROTECT, related_name='roll_attempts', to='sleeves.spreadposition'),
                ),
                migrations.DeleteModel(
                    name='HistoricalSpreadPosition',
                ),
                migrations.DeleteModel(
                    name='SpreadPosition',
                ),
        ]),
    ]
