"""The certain-users picker with hostile input: OData injection, oversize and Unicode edge cases; never a 500,
never a user who was not asked for by exact name, and whatever is echoed back is escaped."""

from urllib.parse import quote

import pytest

from directory.models import SelectedUser
from tests.grant.test_certain_users import picker  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

ALEX = "alex@contoso.onmicrosoft.com"
INJECTIONS = [
    f"{ALEX}' or userPrincipalName ne '",
    f"' or 1 eq 1 or userPrincipalName eq '{ALEX}",
    "x@y') or startswith(userPrincipalName,'a",
    f"{ALEX}'&$filter=true",
    f"{ALEX}%27%20or%20true",
    f"{ALEX}\u0027",
    "''@''",
    "admin@contoso.onmicrosoft.com/../users",
    "a@b?$select=*",
    "a@b#frag",
    "../../organization@x",
    "<script>alert(1)</script>@contoso.onmicrosoft.com",
]
OVERSIZE = ["a" * 256 + "@contoso.onmicrosoft.com", "a@" + "b" * 10_000, "@" * 5000]
UNICODE = [
    "alex\u202e@contoso.onmicrosoft.com",
    "ALEX@CONTOSO.ONMICROSOFT.COM\u200b",
    "alex\x00@contoso.onmicrosoft.com",
    "alex\ud800@contoso.onmicrosoft.com",
    "ålex@contoso.onmicrosoft.com",
    "a\u0301lex@contoso.onmicrosoft.com",
    "😀@contoso.onmicrosoft.com",
    "alex@contoso.onmicrosoft.com\u2028x",
    "\uff41lex@contoso.onmicrosoft.com",
]
UPN_INPUTS = INJECTIONS + OVERSIZE + UNICODE
SEARCHES = [
    "'",
    "'''",
    "Sal' or 1 eq 1 or displayName eq '",
    "x') or startswith(displayName,'",
    "%27%20or%20true",
    "\\'; DROP TABLE provisioning_selecteduser; --",
    "<script>alert(1)</script>",
    "Q" * 121,
    "Q" * 10_000,
    "ab",
    "\u202eselaS",
    "Sal\x00es",
    "Sal\ud800es",
    "😀😀😀",
    "  \t  ",
]


def encoded(value: str) -> str:
    # As a client sends it: a lone surrogate becomes its (invalid) UTF-8 bytes, which the test client cannot encode.
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def post_raw(driver, url: str, upn: str):
    with driver.capture(execute=True):
        return driver.client.post(
            url, f"user_principal_name={encoded(upn)}", content_type="application/x-www-form-urlencoded"
        )


def test_hostile_user_principal_names_add_no_one(cast, driver, picker):  # noqa: F811
    add_url = picker.replace("/users/", "/users/add/")
    for upn in UPN_INPUTS:
        response = post_raw(driver, add_url, upn)
        assert response.status_code in (200, 302), (upn[:60], response.status_code)
        page = driver.portal("get", picker)
        assert page.status_code == 200
        body = page.content.decode()
        assert "<script>alert(1)</script>" not in body
        assert not SelectedUser.objects.exists(), f"{upn!r} added a user"
    assert (
        list(SelectedUser.objects.filter(organization=cast.organization).values_list("user_principal_name", flat=True))
        == []
    )
    # The exact name still works afterwards.
    driver.portal("post", add_url, {"user_principal_name": ALEX})
    assert list(SelectedUser.objects.values_list("user_principal_name", flat=True)) == [ALEX]


@pytest.mark.usefixtures("cast")
def test_hostile_group_searches_never_fail_and_are_escaped(driver, picker):  # noqa: F811
    for query in SEARCHES:
        response = driver.portal("get", f"{picker}?q={encoded(query)}")
        assert response.status_code in (200, 400), (query[:60], response.status_code)  # 400: too short or long
        body = response.content.decode()
        assert "<script>alert(1)</script>" not in body
    injected = driver.portal("get", picker, {"q": "Sal' or 1 eq 1 or displayName eq '"}).content.decode()
    plain = driver.portal("get", picker, {"q": "zzzz-no-such-group"}).content.decode()
    assert injected.count('name="group"') == plain.count('name="group"')  # the injection matched no extra group
    assert SelectedUser.objects.count() == 0


@pytest.mark.usefixtures("cast")
def test_hostile_group_ids_are_refused(driver, picker):  # noqa: F811
    url = picker.replace("/users/", "/users/add-from-group/")
    for group in ["' or 1 eq 1", "00000000-0000-0000-0000-000000000000", "x" * 5000, "\x00"]:
        response = driver.portal("post", url, {"group": group, "members": ["' or 1 eq 1"]})
        assert response.status_code in (200, 302, 400, 404), (group[:40], response.status_code)
        assert driver.portal("get", picker, {"group": group}).status_code in (200, 302, 400, 404)
    assert SelectedUser.objects.count() == 0
