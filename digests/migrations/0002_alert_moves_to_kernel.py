"""Alert now lives in the kernel (dspops.core); its table is unchanged."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('dspops', '0003_alert_from_digests'),
        ('digests', '0001_initial'),
    ]

    operations = [
        # State only: the table (and its rows) stay where they are.
        migrations.SeparateDatabaseAndState(state_operations=[
                migrations.DeleteModel(
                    name='Alert',
                ),
        ]),
    ]
