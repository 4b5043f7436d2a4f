"""The dispatcher's stored next due time: a tick reads the sync settings that are due, not every organization's.

Empty on existing rows: the dispatcher computes it the first time it reads the row."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0008_grant_attempt_refusal_code"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncsettings",
            name="next_due_at",
            field=models.DateTimeField(blank=True, db_index=True, editable=False, null=True),
        ),
    ]
