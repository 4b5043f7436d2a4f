"""The HTTP session of the Microsoft clients: timeouts, and rerouting only where a simulator is configured."""

from microsoft.http import MicrosoftSession


def test_reroutes_microsoft_hosts_to_the_simulator():
    session = MicrosoftSession(simulator_url="http://localhost:8001")

    assert (
        session.reroute("https://login.microsoftonline.com/t/oauth2/v2.0/token")
        == "http://localhost:8001/t/oauth2/v2.0/token"
    )
    assert (
        session.reroute("https://graph.microsoft.com/v1.0/users?$top=5")
        == "http://localhost:8001/graph/v1.0/users?$top=5"
    )
    assert session.reroute("https://example.com/x") == "https://example.com/x"
    assert session.trust_env is False  # no proxy or CA bundle from the environment for a local simulator


def test_production_never_reroutes(settings):
    settings.MICROSOFT_SIMULATOR_URL = ""
    session = MicrosoftSession()

    assert session.reroute("https://login.microsoftonline.com/t") == "https://login.microsoftonline.com/t"
    assert session.trust_env is True
    assert session.timeout == settings.MICROSOFT_HTTP_TIMEOUT
