"""Login limits no attacker can turn against the customers: failed logins are refused per (account, client address)
and per client address at a higher threshold; successful logins are never limited per address; and an account's
failures across addresses only slow its next attempts down, never refusing the right password."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts import loginlimits
from tests.casportal.test_settings import run_manage
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LIMITED = "Too many failed login attempts"


def log_in(email: str, password: str, address: str = "203.0.113.1"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(reverse("account_login"), {"login": email, "password": password})
    return response, client


def refused(response) -> bool:
    return LIMITED in response.content.decode()


def logged_in(email: str, password: str, address: str) -> bool:
    response, client = log_in(email, password, address)
    return response.status_code == 302 and "_auth_user_id" in client.session


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The waits the login limits asked for, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(loginlimits, "sleep", recorded.append)
    return recorded


def test_failures_from_one_address_lock_the_account_out_at_that_address_only(settings):
    user = UserFactory.create(email="ana@example.test")
    for n in range(settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        assert not refused(log_in(user.email, f"wrong-{n}", "203.0.113.7")[0])
    assert refused(log_in(user.email, "wrong again", "203.0.113.7")[0])
    # Even the right password is refused at that address while the limit holds...
    assert refused(log_in(user.email, PASSWORD, "203.0.113.7")[0])
    # ...and the owner, at any other address, logs in.
    assert logged_in(user.email, PASSWORD, "198.51.100.20")


def test_an_ipv6_client_is_counted_by_its_network(settings):
    # One IPv6 client holds a whole /64 (ALLAUTH_RATE_LIMIT_IPV6_PREFIX): new addresses in it are the same client.
    user = UserFactory.create(email="ana@example.test")
    for n in range(settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        assert not refused(log_in(user.email, f"wrong-{n}", f"2001:db8:1:2::{n + 1:x}")[0])
    assert refused(log_in(user.email, PASSWORD, "2001:db8:1:2:ffff::1")[0])
    assert logged_in(user.email, PASSWORD, "2001:db8:1:3::1")


def test_failures_from_one_address_are_refused_at_a_higher_threshold_across_accounts(settings):
    assert settings.LOGIN_FAILURES_PER_ADDRESS > settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS
    user = UserFactory.create(email="ana@example.test")
    per_account = settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS - 1  # never the per-account limit
    for n in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        assert not refused(log_in(f"user-{n // per_account}@example.test", "wrong", "203.0.113.7")[0])
    assert refused(log_in("someone-new@example.test", "wrong", "203.0.113.7")[0])
    assert refused(log_in(user.email, PASSWORD, "203.0.113.7")[0])
    assert logged_in(user.email, PASSWORD, "198.51.100.20")


def test_successful_logins_have_no_per_address_limit(settings):
    # allauth's default allows 30 logins a minute from one address: behind NAT or a proxy all customers share one.
    users = [UserFactory.create(email=f"user-{n}@example.test") for n in range(40)]
    assert all(logged_in(user.email, PASSWORD, "203.0.113.7") for user in users)
    # Nor do they use up the failures allowed from that address.
    for n in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        assert not refused(log_in(f"user-{n % 40}@example.test", "wrong", "203.0.113.7")[0])


def test_failures_across_addresses_slow_the_account_down_but_never_refuse_the_right_password(settings, sleeps):
    user = UserFactory.create(email="ana@example.test")
    free = settings.LOGIN_ACCOUNT_FAILURES_BEFORE_DELAY
    for n in range(free):
        assert not refused(log_in(user.email, "wrong", f"203.0.113.{n}")[0])
    assert sleeps == []

    slowed = 6
    for n in range(slowed):
        assert not refused(log_in(user.email, "wrong", f"198.51.100.{n}")[0])
    expected = [loginlimits.delay_seconds(free + n) for n in range(slowed)]
    assert sleeps == expected
    assert expected == sorted(expected)
    assert expected[0] > 0
    assert expected[-1] == settings.LOGIN_ACCOUNT_DELAY_MAX_SECONDS

    # The right password, from anywhere, waits the same and gets in.
    assert logged_in(user.email, PASSWORD, "192.0.2.50")
    assert sleeps[-1] == settings.LOGIN_ACCOUNT_DELAY_MAX_SECONDS
    # Another account is not slowed by them.
    other = UserFactory.create(email="ben@example.test")
    assert logged_in(other.email, PASSWORD, "192.0.2.51")
    assert len(sleeps) == slowed + 1


def test_an_attempt_the_limits_refuse_does_not_wait(settings, sleeps):
    settings.LOGIN_ACCOUNT_FAILURES_BEFORE_DELAY = settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS
    user = UserFactory.create(email="ana@example.test")
    for n in range(settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        log_in(user.email, f"wrong-{n}", "203.0.113.7")
    assert refused(log_in(user.email, PASSWORD, "203.0.113.7")[0])
    assert sleeps == []


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"LOGIN_FAILURES_PER_ADDRESS": "5", "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS": "5"},
            "LOGIN_FAILURES_PER_ADDRESS",
        ),
        ({"LOGIN_ACCOUNT_DELAY_MAX_SECONDS": "0"}, "LOGIN_ACCOUNT_DELAY_MAX_SECONDS"),
        ({"ALLAUTH_TRUSTED_PROXY_COUNT": "-1"}, "ALLAUTH_TRUSTED_PROXY_COUNT"),
    ],
)
def test_limits_that_cannot_hold_fail_at_start_up(env, named):
    result = run_manage("check", extra_env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr
