"""Driving the simulator's sign-in and consent pages the way a browser would."""

import re
from urllib.parse import parse_qsl, urlsplit

import requests

PASSWORD = "m365-demo"
CONSENT_CALLBACK = "http://127.0.0.1:8000/grant/consent/callback/"
IDENTITY_CALLBACK = "http://127.0.0.1:8000/grant/identity/callback/"


def submit(browser: requests.Session, page: requests.Response, action: str, **fields: str) -> requests.Response:
    match = re.search(r'name="flowToken" value="([^"]+)"', page.text)
    assert match, f"no form on the page: {page.text[:300]}"
    return browser.post(page.url, data={"flowToken": match.group(1), "action": action, **fields}, allow_redirects=False)


def sign_in(browser: requests.Session, page: requests.Response, login: str) -> requests.Response:
    assert "Sign in" in page.text
    return submit(browser, page, "signin", login=login, passwd=PASSWORD)


def callback_params(response: requests.Response, redirect_uri: str) -> dict[str, str]:
    """The query the browser brings back to the portal's callback."""
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    return dict(parse_qsl(urlsplit(location).query))


def admin_consent(browser: requests.Session, url: str, login: str) -> dict[str, str]:
    """Sign in and Accept on the admin-consent pages; the consent callback's query."""
    page = sign_in(browser, browser.get(url), login)
    assert "Permissions requested" in page.text, page.text[:500]
    return callback_params(submit(browser, page, "accept"), CONSENT_CALLBACK)
