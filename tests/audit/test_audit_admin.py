import pytest
from django.test import Client
from django.urls import reverse

from audit.models import Action, AuditEvent
from audit.services import record_event
from tests.admin.staff import mfa_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(db) -> Client:  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return mfa_client(UserFactory.create(email="root@casportal.test", is_staff=True, is_superuser=True))


@pytest.fixture
def event(cast) -> AuditEvent:
    return record_event(
        Action.POLICY_ENABLED, actor=cast.owner.user, organization=cast.organization, target="Default DLP policy"
    )


def test_superuser_can_list_and_view_but_not_change_audit_events(superuser_client, event):
    changelist = superuser_client.get(reverse("admin:audit_auditevent_changelist"))
    assert changelist.status_code == 200
    assert "Default DLP policy" in changelist.content.decode()
    assert superuser_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    detail = superuser_client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    response = superuser_client.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {"target": "forged"})
    assert response.status_code == 403
    assert (
        superuser_client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    event.refresh_from_db()
    assert event.target == "Default DLP policy"


def test_bulk_delete_is_not_offered(superuser_client, event):
    response = superuser_client.post(
        reverse("admin:audit_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert response.status_code in (200, 302)


@pytest.mark.usefixtures("event")
def test_changelist_filters_and_searches(superuser_client, cast):
    url = reverse("admin:audit_auditevent_changelist")
    assert "Default DLP policy" in superuser_client.get(url, {"q": cast.owner.user.email}).content.decode()
    assert "Default DLP policy" not in superuser_client.get(url, {"q": "nobody@nowhere"}).content.decode()
    filtered = superuser_client.get(url, {"action__exact": Action.LOGIN}).content.decode()
    assert "Default DLP policy" not in filtered


def test_events_cannot_be_changed_or_deleted_through_the_orm(event):
    event.target = "forged"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(target="forged")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()


@pytest.mark.usefixtures("event")
def test_activity_page_shows_the_organizations_events_newest_first(cast, reader_client):
    record_event(Action.POLICY_DISABLED, actor=cast.owner.user, organization=cast.organization, target="Second")
    record_event(
        Action.POLICY_DISABLED, actor=cast.outsider.user, organization=cast.outsider.organization, target="Foreign"
    )
    body = reader_client.get(reverse("activity", args=[cast.organization.slug])).content.decode()
    assert body.index("Second") < body.index("Default DLP policy")
    assert "Foreign" not in body
