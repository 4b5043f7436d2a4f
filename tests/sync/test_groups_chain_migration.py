"""Upgrading to the two chains: a run under way in its groups step goes on as its groups chain, from its position."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from directory.models import ChainState, SyncRun, SyncStep
from tests.factories import OrganizationFactory

BEFORE = [("provisioning", "0009_sync_settings_next_due_at")]


@pytest.mark.django_db(transaction=True)
def test_a_run_in_its_groups_step_continues_as_the_groups_chain():
    organization, other = OrganizationFactory.create(), OrganizationFactory.create()
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_run = executor.loader.project_state(BEFORE).apps.get_model("provisioning", "SyncRun")
    started = timezone.now()
    common = {"kind": "full", "trigger": "manual", "round_started_at": started, "fence": 7}
    in_groups = old_run.objects.create(
        organization_id=organization.pk, status="running", step="groups", cursor="https://graph/next", **common
    )
    finished = old_run.objects.create(organization_id=other.pk, status="succeeded", step="done", **common)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    run = SyncRun.objects.get(pk=in_groups.pk)
    assert (run.groups_chain, run.groups_cursor, run.groups_fence, run.groups_round_started_at) == (
        ChainState.RUNNING,
        "https://graph/next",
        7,
        started,
    )
    assert (run.step, run.cursor, run.lease_expires_at) == (SyncStep.GROUPS, "", None)  # the users chain is done
    assert SyncRun.objects.get(pk=finished.pk).groups_chain == ChainState.PENDING
