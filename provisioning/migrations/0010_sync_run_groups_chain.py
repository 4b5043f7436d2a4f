"""A sync run's groups chain, with its own position, fence and lease, so that it can run beside the users chain.

A run under way in its groups step continues there: its position and fence become the groups chain's."""

from django.db import migrations, models


def groups_step_to_groups_chain(apps, schema_editor) -> None:
    SyncRun = apps.get_model("provisioning", "SyncRun")
    SyncRun.objects.filter(status__in=("queued", "running"), step="groups").update(
        groups_chain="running",
        groups_cursor=models.F("cursor"),
        groups_fence=models.F("fence"),
        groups_lease_expires_at=models.F("lease_expires_at"),
        groups_round_started_at=models.F("round_started_at"),
        cursor="",
        lease_expires_at=None,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0009_sync_settings_next_due_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="groups_chain",
            field=models.CharField(
                choices=[("pending", "Not started"), ("running", "Running"), ("done", "Done")],
                default="pending",
                max_length=8,
            ),
        ),
        migrations.AddField(model_name="syncrun", name="groups_fence", field=models.PositiveIntegerField(default=0)),
        migrations.AddField(
            model_name="syncrun", name="groups_lease_expires_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="syncrun",
            name="groups_cursor",
            field=models.TextField(blank=True, help_text="The nextLink the groups chain continues from."),
        ),
        migrations.AddField(
            model_name="syncrun", name="groups_retries", field=models.PositiveSmallIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="syncrun",
            name="groups_round_started_at",
            field=models.DateTimeField(blank=True, help_text="When the groups round began.", null=True),
        ),
        migrations.AlterField(
            model_name="syncrun",
            name="round_started_at",
            field=models.DateTimeField(blank=True, help_text="When the users round began.", null=True),
        ),
        migrations.AlterField(
            model_name="syncrun",
            name="cursor",
            field=models.TextField(blank=True, help_text="The nextLink the users chain continues from."),
        ),
        migrations.RunPython(groups_step_to_groups_chain, migrations.RunPython.noop),
    ]
