"""Upgrading over the Tenant → Organization rename: the staff groups keep their permissions, the tables keep their
names, and no data moves."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from organizations.models import Membership, Organization
from support.staff import OPERATOR_GROUP, READ_ONLY_GROUP

BEFORE = [("tenants", "0002_organization"), ("provisioning", "0004_organization")]
ACTIONS = ("add", "change", "delete", "view")


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_the_staff_groups_keep_the_renamed_models_permissions():
    content_type = ContentType.objects.get_for_model(Organization)
    migrate(BEFORE)
    # The database of the previous release: the permissions still carry the model's old name.
    Permission.objects.filter(content_type=content_type).delete()
    old = {
        action: Permission.objects.create(
            content_type=content_type, codename=f"{action}_tenant", name=f"Can {action} tenant"
        )
        for action in ACTIONS
    }
    read_only, operator = Group.objects.get(name=READ_ONLY_GROUP), Group.objects.get(name=OPERATOR_GROUP)
    read_only.permissions.add(old["view"])
    operator.permissions.add(old["view"], old["change"])

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert not Permission.objects.filter(codename__endswith="_tenant", content_type=content_type).exists()
    assert set(read_only.permissions.filter(content_type=content_type).values_list("codename", flat=True)) == {
        "view_organization"
    }
    assert set(operator.permissions.filter(content_type=content_type).values_list("codename", flat=True)) == {
        "view_organization",
        "change_organization",
    }
    assert {permission.pk for permission in old.values()} == set(
        Permission.objects.filter(content_type=content_type).values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_the_renamed_model_and_foreign_keys_keep_their_table_and_columns():
    assert Organization._meta.db_table == "tenants_tenant"
    assert Membership._meta.get_field("organization").column == "tenant_id"
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        columns = {
            column.name for column in connection.introspection.get_table_description(cursor, "tenants_membership")
        }
    assert "tenants_tenant" in tables
    assert "tenants_organization" not in tables
    assert "tenant_id" in columns
