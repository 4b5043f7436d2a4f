"""Model factories. Call `XFactory.create(...)`: factory_boy types `create()` as returning the model (the factory's
type parameter), while `XFactory(...)` is typed as the factory itself; at run time the two are the same call."""

import uuid
from typing import Any

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import User
from connection.models import ServiceAccount
from organizations import services
from organizations.models import Membership, Organization, Role

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(self: User, create: bool, _extracted: object, **kwargs: object) -> None:
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    """Organizations are created through the service, so they get their services and policies."""

    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")

    @classmethod
    def _create(cls, model_class: type[Organization], *args: Any, **kwargs: Any) -> Organization:  # noqa: ARG003 (factory_boy's signature)
        return services.create_organization(name=kwargs["name"], slug=kwargs["slug"], actor=None)


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ADMIN


class ServiceAccountFactory(factory.django.DjangoModelFactory[ServiceAccount]):
    """A grant of `service` (required), as the consent flow leaves it."""

    class Meta:
        model = ServiceAccount

    organization = factory.SelfAttribute("service.organization")
    microsoft_tenant_id = factory.LazyFunction(uuid.uuid4)
    authorized_account = "admin@contoso.onmicrosoft.com"
    authorized_object_id = factory.LazyFunction(uuid.uuid4)
    granted_at = factory.LazyFunction(timezone.now)
