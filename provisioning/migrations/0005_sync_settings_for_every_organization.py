"""Every organization has its sync settings from the moment it exists: create them for the ones that have none."""

from django.db import migrations


def create_missing_sync_settings(apps, schema_editor):
    Organization = apps.get_model("tenants", "Organization")
    SyncSettings = apps.get_model("provisioning", "SyncSettings")
    missing = Organization.objects.filter(sync_settings__isnull=True).values_list("pk", flat=True)
    SyncSettings.objects.bulk_create(SyncSettings(organization_id=pk) for pk in missing.iterator())


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0004_organization"),
        ("tenants", "0003_permission_codenames"),
    ]

    operations = [migrations.RunPython(create_missing_sync_settings, migrations.RunPython.noop)]
