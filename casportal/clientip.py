"""The client address of a request, read the way allauth reads it, for allauth's limits, the audit log and ours.

allauth's adapter takes it from `ALLAUTH_TRUSTED_CLIENT_IP_HEADER` when that is set, else from the
`ALLAUTH_TRUSTED_PROXY_COUNT`-th address from the right of X-Forwarded-For (the one the outermost trusted proxy
saw), else from REMOTE_ADDR. Both settings are off by default, so a client's X-Forwarded-For is ignored.
"""

from allauth.account.adapter import get_adapter
from allauth.core.internal.ratelimit import truncate_ip
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

UNKNOWN = "unknown"


def client_address(request: HttpRequest) -> str | None:
    """The client's address, or None when the request carries none (e.g. the trusted header is missing)."""
    try:
        return get_adapter(request).get_client_ip(request)
    except PermissionDenied:
        return None


def rate_limit_address(request: HttpRequest) -> str:
    """What a per-address limit counts: the client address, an IPv6 one cut to its network as allauth counts it
    (ALLAUTH_RATE_LIMIT_IPV6_PREFIX), since one IPv6 client holds a whole /64."""
    address = client_address(request)
    return truncate_ip(address) if address else UNKNOWN
