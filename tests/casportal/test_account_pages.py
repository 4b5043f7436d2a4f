"""The sign-in and account pages: styled like the portal, and never offering a sign-up that is closed."""

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_sign_in_page_never_offers_sign_up(client: Client) -> None:
    page = client.get(reverse("account_login")).content.decode()

    assert reverse("account_signup") not in page
    assert "sign up" not in page.lower()
    assert "by invitation" in page
    assert 'class="btn btn-primary"' in page


def test_account_pages_use_the_portals_buttons_and_cards(owner_client: Client) -> None:
    page = owner_client.get(reverse("mfa_index")).content.decode()

    assert 'class="card mb-3"' in page
    assert 'class="btn btn-primary"' in page
    assert "Organization: choose" not in page
