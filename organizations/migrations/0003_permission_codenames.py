"""The permissions of the renamed model keep their rows, and so the groups that hold them: `view_tenant` becomes
`view_organization` (and add, change, delete likewise) before `post_migrate` would create new ones."""

from django.db import migrations

ACTIONS = ("add", "change", "delete", "view")


def rename_codenames(apps, schema_editor, old="tenant", new="organization"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    content_type = ContentType.objects.using(db).filter(app_label="tenants", model="organization").first()
    if content_type is None:
        return  # a new database: post_migrate creates the permissions with their new names
    for action in ACTIONS:
        Permission.objects.using(db).filter(content_type=content_type, codename=f"{action}_{old}").update(
            codename=f"{action}_{new}", name=f"Can {action} {new}"
        )


def restore_codenames(apps, schema_editor):
    rename_codenames(apps, schema_editor, old="organization", new="tenant")


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0002_organization"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(rename_codenames, restore_codenames)]
