import pytest

from directory.models import DirectoryGroup, DirectoryUser, GroupMembership, SyncRun
from m365sim.models import Group as SimGroup
from m365sim.models import MemberObject as SimMemberObject
from m365sim.models import Membership as SimMembership
from m365sim.models import User as SimUser


@pytest.fixture
def protected(cast, driver):
    """Contoso granted in all-users mode and synchronized once."""
    assert driver.grant().status_code == 302
    driver.tasks.run()
    assert SyncRun.objects.get(organization=cast.organization).status == "succeeded"
    return cast


def simulator_state(sim_tenant) -> tuple[set, set, set]:
    users = set(
        SimUser.objects.filter(tenant=sim_tenant, deleted_at__isnull=True).values_list("id", "user_principal_name")
    )
    groups = set(SimGroup.objects.filter(tenant=sim_tenant, deleted_at__isnull=True).values_list("id", "display_name"))
    live_group_ids = {group_id for group_id, _ in groups}
    live_user_ids = {user_id for user_id, _ in users}
    live_object_ids = set(
        SimMemberObject.objects.filter(tenant=sim_tenant, deleted_at__isnull=True).values_list("id", flat=True)
    )
    memberships = {
        (group_id, user_id or subgroup_id or object_id)
        for group_id, user_id, subgroup_id, object_id in SimMembership.objects.filter(
            group__tenant=sim_tenant, removed=False
        ).values_list("group_id", "member_user_id", "member_group_id", "member_object_id")
        if group_id in live_group_ids
        and (user_id in live_user_ids or subgroup_id in live_group_ids or object_id in live_object_ids)
    }
    return users, groups, memberships


def portal_state(organization) -> tuple[set, set, set]:
    return (
        set(DirectoryUser.objects.filter(organization=organization).values_list("microsoft_id", "user_principal_name")),
        set(DirectoryGroup.objects.filter(organization=organization).values_list("microsoft_id", "display_name")),
        set(GroupMembership.objects.filter(organization=organization).values_list("group_id", "member_id")),
    )


def users_chain(driver) -> list:
    """The users chain's queued batches: a run's groups chain queues its own batches beside them (their messages
    name the chain: `sync_batch(run, fence, "groups")`)."""
    return [(queued, task) for queued, task in driver.tasks.pending if len(queued.args) == 2]


def run_users_batch(driver) -> SyncRun:
    """The users chain's next batch, leaving the groups chain's queued."""
    queued, task = users_chain(driver)[0]
    driver.tasks.pending.remove((queued, task))
    task.apply(args=queued.args, throw=True)
    return SyncRun.objects.get(pk=queued.args[0])
