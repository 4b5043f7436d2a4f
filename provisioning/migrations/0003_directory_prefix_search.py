"""Indexes for the admin's prefix searches on synchronized users and groups (`UPPER(column) LIKE 'TERM%'`).

PostgreSQL only: `text_pattern_ops` lets LIKE use the index under any collation. SQLite, for development,
searches without them.
"""

from django.db import migrations

PREFIX_INDEXES = {
    "directory_user_upn_prefix": ("provisioning_directoryuser", "user_principal_name"),
    "directory_user_name_prefix": ("provisioning_directoryuser", "display_name"),
    "directory_group_name_prefix": ("provisioning_directorygroup", "display_name"),
}


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, column) in PREFIX_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} (UPPER({schema_editor.quote_name(column)}) text_pattern_ops)"
        )


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in PREFIX_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0002_sync_run_follow_up")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
