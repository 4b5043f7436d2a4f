import uuid

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import User
from connection.models import ServiceAccount
from organizations import services
from organizations.models import Membership, Organization, Role

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(self, create, _extracted, **kwargs):
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class OrganizationFactory(factory.django.DjangoModelFactory):
    """Organizations are created through the service, so they get their services and policies."""

    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")

    @classmethod
    def _create(cls, _model_class, *args, **kwargs):
        return services.create_organization(name=kwargs["name"], slug=kwargs["slug"], actor=None)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ADMIN


class ServiceAccountFactory(factory.django.DjangoModelFactory):
    """A grant of `service` (required), as the consent flow leaves it."""

    class Meta:
        model = ServiceAccount

    organization = factory.SelfAttribute("service.organization")
    microsoft_tenant_id = factory.LazyFunction(uuid.uuid4)
    authorized_account = "admin@contoso.onmicrosoft.com"
    authorized_object_id = factory.LazyFunction(uuid.uuid4)
    granted_at = factory.LazyFunction(timezone.now)
