"""Branded error pages: a signed-in user keeps the navigation and a way back; the 500 page needs nothing."""

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from tests.cast import Cast

pytestmark = pytest.mark.django_db


def test_not_found_keeps_the_navigation(owner_client: Client) -> None:
    response = owner_client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page
    assert 'aria-label="Main navigation"' in page
    assert "Log out" in page


def test_refusal_of_a_read_only_member_says_why_and_keeps_the_organization(cast: Cast, reader_client: Client) -> None:
    response = reader_client.post(reverse("member_invite", args=[cast.organization.slug]), {"email": "x@contoso.test"})

    assert response.status_code == 403
    page = response.content.decode()
    assert "Read-only members cannot make changes." in page
    assert f'href="{reverse("dashboard", args=[cast.organization.slug])}"' in page
    assert f'href="{reverse("service_status", args=[cast.organization.slug])}"' in page, "the organization's navigation"
    assert f'href="{reverse("members", args=[cast.organization.slug])}"' in page
    assert "Log out" in page


def test_server_error_page_renders_without_a_request() -> None:
    page = render_to_string("500.html")

    assert "Something went wrong on our side" in page
    assert 'href="/"' in page
