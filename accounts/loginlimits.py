"""Across client addresses, an account's failed logins slow its next attempts down, and never refuse the right password.

allauth refuses failed logins per (account, client address) and per client address (ACCOUNT_RATE_LIMITS). A refusal
counted on the account alone would let anyone lock its owner out from anywhere, so that count only adds a wait
before the password is checked: a guesser spread over many addresses gets slower, the owner still gets in.
"""

import hashlib
import logging
from time import sleep

from django.conf import settings

from casportal import ratelimit

logger = logging.getLogger(__name__)


def _key(login: str) -> str:
    return "login-failures:" + hashlib.sha256(login.lower().encode()).hexdigest()


def delay_seconds(failures: int) -> int:
    """The wait before an attempt on an account with `failures` recent failures: none within the allowance, then one
    second, doubling with each further failure up to the cap."""
    beyond = failures - settings.LOGIN_ACCOUNT_FAILURES_BEFORE_DELAY
    if beyond < 0:
        return 0
    return min(2**beyond, settings.LOGIN_ACCOUNT_DELAY_MAX_SECONDS)


def wait_before_attempt(login: str) -> int:
    """Sleep for the account's current delay before its password is checked; the seconds waited."""
    failures = ratelimit.hits(_key(login))
    delay = delay_seconds(failures)
    if delay:
        logger.warning("login attempt slowed by %s s: %s failed logins on the account in the window", delay, failures)
        sleep(delay)
    return delay


def record_failure(login: str) -> None:
    ratelimit.hit(_key(login), window_seconds=settings.LOGIN_ACCOUNT_FAILURE_WINDOW_MINUTES * 60)
