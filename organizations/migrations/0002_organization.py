"""The customer's organization is `Organization` in Python; its table, columns and constraints keep their names.

Only the state changes: `db_table` is set before the plain RenameModel (so the content type follows), and each
foreign key named `tenant` becomes `organization` on the same `tenant_id` column."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
        ("provisioning", "0003_directory_prefix_search"),
        ("audit", "0002_alter_auditevent_action"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelTable(
            name="tenant",
            table="tenants_tenant",
        ),
        migrations.RenameModel(
            old_name="Tenant",
            new_name="Organization",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterModelOptions(
                    name="membership",
                    options={"ordering": ["organization__name", "user__email"]},
                ),
                migrations.AlterModelOptions(
                    name="protectedservice",
                    options={"ordering": ["organization__name", "kind"], "verbose_name": "protected service"},
                ),
                migrations.RemoveConstraint(
                    model_name="invitation",
                    name="invitation_one_open_per_email",
                ),
                migrations.RemoveConstraint(
                    model_name="membership",
                    name="membership_unique_user_per_tenant",
                ),
                migrations.RemoveConstraint(
                    model_name="policy",
                    name="policy_unique_priority",
                ),
                migrations.RemoveConstraint(
                    model_name="protectedservice",
                    name="service_unique_kind_per_tenant",
                ),
                migrations.AlterField(
                    model_name="invitation",
                    name="tenant",
                    field=models.ForeignKey(
                        db_column="tenant_id",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="invitations",
                        to="tenants.organization",
                    ),
                ),
                migrations.RenameField(
                    model_name="invitation",
                    old_name="tenant",
                    new_name="organization",
                ),
                migrations.AlterField(
                    model_name="membership",
                    name="tenant",
                    field=models.ForeignKey(
                        db_column="tenant_id",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="tenants.organization",
                    ),
                ),
                migrations.RenameField(
                    model_name="membership",
                    old_name="tenant",
                    new_name="organization",
                ),
                migrations.AlterField(
                    model_name="policy",
                    name="tenant",
                    field=models.ForeignKey(
                        db_column="tenant_id",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="policies",
                        to="tenants.organization",
                    ),
                ),
                migrations.RenameField(
                    model_name="policy",
                    old_name="tenant",
                    new_name="organization",
                ),
                migrations.AlterField(
                    model_name="protectedservice",
                    name="tenant",
                    field=models.ForeignKey(
                        db_column="tenant_id",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="services",
                        to="tenants.organization",
                    ),
                ),
                migrations.RenameField(
                    model_name="protectedservice",
                    old_name="tenant",
                    new_name="organization",
                ),
                migrations.AddConstraint(
                    model_name="invitation",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("accepted_at__isnull", True), ("revoked_at__isnull", True)),
                        fields=("organization", "email"),
                        name="invitation_one_open_per_email",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="membership",
                    constraint=models.UniqueConstraint(
                        fields=("organization", "user"), name="membership_unique_user_per_tenant"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="policy",
                    constraint=models.UniqueConstraint(
                        fields=("organization", "service", "policy_type", "priority"), name="policy_unique_priority"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="protectedservice",
                    constraint=models.UniqueConstraint(
                        fields=("organization", "kind"), name="service_unique_kind_per_tenant"
                    ),
                ),
            ],
        ),
    ]
