"""A policy cannot be enabled for a service without an access grant: the refusal says why and changes nothing, and
the Policies page reads "Waits for the grant", never "Enabled", for such a service."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.models import AuditEvent
from organizations import services
from organizations.models import Policy, ProtectedService, ServiceStatus

pytestmark = pytest.mark.django_db


def sharepoint_policy(cast) -> Policy:
    return Policy.objects.get(
        organization=cast.organization, service__kind="sharepoint-online", name="Default DLP policy"
    )


def section_of(page: str, label: str) -> str:
    return page.split(f">{label}</h2>", 1)[1].split("</section>", 1)[0]


def test_enabling_a_policy_of_a_service_without_access_is_refused_and_changes_nothing(cast, owner_client):
    policy = sharepoint_policy(cast)
    url = reverse("policy_toggle", args=[cast.organization.slug, policy.public_id])
    response = owner_client.post(url, {"enabled": "1"}, follow=True)
    page = re.sub(r"\s+", " ", response.content.decode())
    assert (
        "Default DLP policy cannot be enabled for SharePoint Online: SharePoint Online has no access grant, so "
        "casportal cannot apply it."
    ) in page
    policy.refresh_from_db()
    assert not policy.enabled
    assert not AuditEvent.objects.filter(action__startswith="policy.").exists()


def test_the_service_function_refuses_it_for_every_caller(cast):
    with pytest.raises(ValidationError):
        services.set_policy_enabled(policy=sharepoint_policy(cast), enabled=True, actor=None)


def test_the_policies_page_shows_waiting_policies_as_such_and_offers_no_enable(cast, owner_client):
    ProtectedService.objects.filter(organization=cast.organization, kind="exchange-online").update(
        status=ServiceStatus.PROTECTED
    )
    page = owner_client.get(reverse("policies", args=[cast.organization.slug])).content.decode()
    granted, waiting = section_of(page, "Exchange Online"), section_of(page, "SharePoint Online")
    assert "Waits for the grant" not in granted
    assert granted.count(">Enable<span") == 3
    assert waiting.count("Waits for the grant</span>") == 3
    assert ">Enable<span" not in waiting
    assert "SharePoint Online has no access grant: casportal applies none of its policies" in waiting
    assert reverse("grant_start", args=[cast.organization.slug, "sharepoint-online"]) in waiting


def test_a_policy_left_enabled_by_a_removed_grant_reads_waiting_and_can_be_disabled(cast, owner_client):
    policy = sharepoint_policy(cast)
    Policy.objects.filter(pk=policy.pk).update(enabled=True)  # enabled while granted; the grant was removed since
    page = owner_client.get(reverse("policies", args=[cast.organization.slug])).content.decode()
    waiting = section_of(page, "SharePoint Online")
    assert ">Enabled<" not in waiting
    assert "Chosen: applies once SharePoint Online is granted" in waiting
    assert ">Disable<span" in waiting
    owner_client.post(reverse("policy_toggle", args=[cast.organization.slug, policy.public_id]), {"enabled": "0"})
    policy.refresh_from_db()
    assert not policy.enabled
