"""The client address comes from allauth's trusted-proxy settings, and allauth's login limits, the audit log and
the portal's own limits all read the same one: a client's X-Forwarded-For counts only behind trusted proxies."""

import ipaddress
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import Action, AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LIMITED = "Too many failed login attempts"
CONSENT_CALLBACK = "/grant/consent/callback/"
PROXY = "10.0.0.2"  # the proxy in front, as REMOTE_ADDR


def log_in(email: str, password: str, **headers: Any):
    return Client().post(reverse("account_login"), {"login": email, "password": password}, **headers)


def refused(response) -> bool:
    return LIMITED in response.content.decode()


def forwarded(client_address: str) -> dict[str, Any]:
    """A request through the proxy for `client_address`, whose own X-Forwarded-For claimed another address."""
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"198.51.100.99, {client_address}"}


def spend_the_address_limit(settings, **headers: Any) -> None:
    """Failed logins from one client address, on accounts of their own (no per-account limit is reached)."""
    for n in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        assert not refused(log_in(f"nobody-{n}@example.test", "wrong password", **headers))


def test_without_trusted_proxies_x_forwarded_for_is_ignored_everywhere(settings):
    settings.GRANT_CALLBACK_ANONYMOUS_PER_MINUTE = 2
    user = UserFactory.create(email="ana@example.test")
    for n in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        assert not refused(log_in(f"nobody-{n}@example.test", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"))
    # A new X-Forwarded-For each time made no new client: the address limit holds, even for the right password.
    assert refused(log_in(user.email, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.200"))

    failed = AuditEvent.objects.filter(action=Action.LOGIN_FAILED)
    assert failed.count() == settings.LOGIN_FAILURES_PER_ADDRESS
    assert set(failed.values_list("ip_address", flat=True)) == {"127.0.0.1"}

    statuses = [
        Client().get(CONSENT_CALLBACK, {"state": f"s-{n}"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(3)
    ]
    assert statuses == [400, 400, 429]


def test_behind_one_trusted_proxy_the_address_it_saw_is_the_client(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.GRANT_CALLBACK_ANONYMOUS_PER_MINUTE = 2
    user = UserFactory.create(email="ana@example.test")
    spend_the_address_limit(settings, **forwarded("203.0.113.7"))

    # allauth's limit is spent for that client only; another client behind the same proxy logs in.
    assert refused(log_in(user.email, PASSWORD, **forwarded("203.0.113.7")))
    assert log_in(user.email, PASSWORD, **forwarded("203.0.113.8")).status_code == 302

    failed = AuditEvent.objects.filter(action=Action.LOGIN_FAILED)
    assert set(failed.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    assert AuditEvent.objects.get(action=Action.LOGIN, actor=user).ip_address == "203.0.113.8"

    def callback_status(client_address: str, n: int) -> int:
        return Client().get(CONSENT_CALLBACK, {"state": f"s-{n}"}, **forwarded(client_address)).status_code

    assert [callback_status("203.0.113.7", n) for n in range(3)] == [400, 400, 429]
    assert callback_status("203.0.113.8", 3) == 400


def test_a_trusted_client_ip_header_names_the_client(settings):
    settings.ALLAUTH_TRUSTED_CLIENT_IP_HEADER = "X-Real-IP"
    user = UserFactory.create(email="ana@example.test")
    spend_the_address_limit(settings, REMOTE_ADDR=PROXY, HTTP_X_REAL_IP="203.0.113.7")

    assert refused(log_in(user.email, PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_REAL_IP="203.0.113.7"))
    assert log_in(user.email, PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_REAL_IP="203.0.113.8").status_code == 302
    assert AuditEvent.objects.get(action=Action.LOGIN, actor=user).ip_address == "203.0.113.8"


def test_with_no_trusted_proxy_a_spoofed_header_changes_nothing(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    user = UserFactory.create(email="ana@example.test")
    spoofed = {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_REAL_IP": "203.0.113.7"}
    assert log_in(user.email, PASSWORD, **spoofed).status_code == 302
    assert AuditEvent.objects.get(action=Action.LOGIN, actor=user).ip_address == "127.0.0.1"
    spend_the_address_limit(settings, **spoofed)
    # The limit was spent on 127.0.0.1, the address the request really came from, whatever the headers say.
    assert refused(log_in(user.email, PASSWORD))


def test_the_metrics_network_allowance_is_checked_against_the_client_not_the_proxy(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    # From the internet through the proxy (itself inside the allowed network): refused.
    assert Client().get("/metrics", **forwarded("203.0.113.7")).status_code == 403
    # A scraper inside the network, straight to the portal: served.
    assert Client().get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
