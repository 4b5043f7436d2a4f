"""Foreign keys named `tenant` become `organization` on the same `tenant_id` column: a change of state only."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_alter_auditevent_action"),
        ("tenants", "0002_organization"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name="auditevent",
                    name="audit_tenant_time",
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="tenant",
                    field=models.ForeignKey(
                        blank=True,
                        db_column="tenant_id",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="audit_events",
                        to="tenants.organization",
                    ),
                ),
                migrations.RenameField(
                    model_name="auditevent",
                    old_name="tenant",
                    new_name="organization",
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["organization", "-occurred_at"], name="audit_tenant_time"),
                ),
            ],
        ),
    ]
