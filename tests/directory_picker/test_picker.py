"""The certain-users picker finds users by the words of their name or the beginning of their user principal name,
and groups by the words of their name, as Graph's $search does (an advanced query); lists are in reading order;
a group's users can be added all at once, saying how many."""

import html
import re
import uuid

import pytest

from directory.models import MAX_SELECTED_USERS, SelectedUser
from m365sim import services as sim
from m365sim.models import Group as SimGroup
from m365sim.models import User as SimUser
from tests.grant.test_certain_users import picker  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def page(driver, url: str, **query: str) -> str:
    response = driver.portal("get", url, query)
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.content.decode()


def labels(body: str) -> list[str]:
    """The names the page lists to choose from, in order."""
    return [
        html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", label)).strip())
        for label in re.findall(r'<label class="form-check-label text-break"[^>]*>(.*?)</label>', body, re.S)
    ]


def group_links(body: str) -> list[str]:
    return re.findall(r'<a href="\?group=[0-9a-f-]+">([^<]+)</a>', body)


@pytest.fixture
def megan(contoso):
    return sim.add_user(contoso, user_principal_name="megan.bowen@contoso.onmicrosoft.com", display_name="Megan Bowen")


@pytest.mark.usefixtures("megan")
def test_users_are_found_by_the_words_of_their_name_in_any_order(driver, picker):  # noqa: F811
    found = labels(page(driver, picker, user_q="bow meg"))
    assert found == ["megan.bowen@contoso.onmicrosoft.com Megan Bowen"]


@pytest.mark.usefixtures("megan")
def test_users_are_found_by_the_beginning_of_their_user_principal_name(driver, picker):  # noqa: F811
    assert labels(page(driver, picker, user_q="megan.b")) == ["megan.bowen@contoso.onmicrosoft.com Megan Bowen"]
    # A user principal name is matched from its beginning, as Graph does for properties other than names.
    assert "No user's name has words beginning with" in page(driver, picker, user_q="contoso.onmicrosoft")


def test_found_users_are_listed_in_reading_order_and_can_be_added(cast, driver, picker, contoso):  # noqa: F811
    for n in (18, 7, 40, 9):
        sim.add_user(contoso, user_principal_name=f"trainee{n}@contoso.onmicrosoft.com", display_name=f"Trainee {n}")
    body = page(driver, picker, user_q="trainee")
    assert [label.split(" ", 1)[1] for label in labels(body)] == [
        "Trainee 7",
        "Trainee 9",
        "Trainee 18",
        "Trainee 40",
    ]
    chosen = [str(SimUser.objects.get(user_principal_name=f"trainee{n}@contoso.onmicrosoft.com").id) for n in (9, 40)]
    response = driver.portal(
        "post", picker.replace("/users/", "/users/add-found/"), {"user_q": "trainee", "members": chosen}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?user_q=trainee")  # back to the same results
    assert set(
        SelectedUser.objects.filter(organization=cast.organization).values_list("user_principal_name", flat=True)
    ) == {
        "trainee9@contoso.onmicrosoft.com",
        "trainee40@contoso.onmicrosoft.com",
    }
    after = page(driver, response["Location"])
    assert (
        "2 users added. They will be synchronized: trainee9@contoso.onmicrosoft.com, trainee40@contoso.onmicrosoft.com."
        in after
    )
    assert after.count("· chosen") == 2


def test_a_user_not_in_the_results_cannot_be_added_through_them(driver, picker, megan):  # noqa: F811
    stranger = SimUser.objects.exclude(pk=megan.pk).first()
    assert stranger is not None
    driver.portal(
        "post", picker.replace("/users/", "/users/add-found/"), {"user_q": "megan", "members": [str(stranger.id)]}
    )
    assert not SelectedUser.objects.exists()
    assert "Choose users from the users found." in page(driver, picker)


@pytest.fixture
def training(contoso):
    """Groups whose names sort differently as text and as a person reads them."""
    for n in (18, 37, 40, 7, 9):
        sim.add_group(contoso, display_name=f"Training {n}")
    sim.add_group(contoso, display_name="Team Sales EMEA")
    sim.add_group(contoso, display_name="Presales")
    return contoso


@pytest.mark.usefixtures("training")
def test_groups_are_found_by_a_word_anywhere_in_their_name(driver, picker):  # noqa: F811
    assert group_links(page(driver, picker, q="sales")) == ["Team Sales EMEA"]
    assert group_links(page(driver, picker, q="emea team")) == ["Team Sales EMEA"]


@pytest.mark.usefixtures("training")
def test_group_search_matches_words_not_any_substring(driver, picker):  # noqa: F811
    # "ales" is inside "Sales" and "Presales", but begins no word of either.
    body = page(driver, picker, q="ales")
    assert group_links(body) == []
    assert "No group has words beginning with “ales”." in body


@pytest.mark.usefixtures("training")
def test_groups_are_listed_in_reading_order(driver, picker):  # noqa: F811
    assert group_links(page(driver, picker, q="training")) == [f"Training {n}" for n in (7, 9, 18, 37, 40)]


def test_all_users_of_a_group_are_added_at_once(cast, driver, picker, contoso):  # noqa: F811
    group = sim.add_group(contoso, display_name="Pilot")
    members = [
        sim.add_user(contoso, user_principal_name=f"pilot{n}@contoso.onmicrosoft.com", display_name=f"Pilot {n}")
        for n in (10, 2, 1)
    ]
    for user in members:
        sim.add_member(group, user)
    driver.portal(
        "post", picker.replace("/users/", "/users/add/"), {"user_principal_name": "pilot2@contoso.onmicrosoft.com"}
    )
    body = page(driver, picker, group=str(group.id))
    assert "Members of Pilot" in body
    assert [label.split(" ", 1)[1] for label in labels(body)] == ["Pilot 1", "Pilot 2 · chosen", "Pilot 10"]
    assert "3 users; 2 not chosen yet." in body
    assert "Add all 2 users not chosen yet" in body
    driver.portal("post", picker.replace("/users/", "/users/add-from-group/"), {"group": str(group.id), "all": "1"})
    assert set(
        SelectedUser.objects.filter(organization=cast.organization).values_list("user_principal_name", flat=True)
    ) == {f"pilot{n}@contoso.onmicrosoft.com" for n in (10, 2, 1)}
    assert "2 users added. They will be synchronized: " in page(driver, picker)


def test_adding_all_is_refused_beyond_the_limit_and_says_how_many_more_fit(cast, driver, picker, contoso):  # noqa: F811
    group = sim.add_group(contoso, display_name="Crowd")
    for n in range(3):
        sim.add_member(
            group,
            sim.add_user(contoso, user_principal_name=f"crowd{n}@contoso.onmicrosoft.com", display_name=f"Crowd {n}"),
        )
    SelectedUser.objects.bulk_create(
        SelectedUser(
            organization=cast.organization,
            microsoft_id=uuid.uuid4(),
            user_principal_name=f"u{n}@contoso.onmicrosoft.com",
        )
        for n in range(MAX_SELECTED_USERS - 2)
    )
    body = page(driver, picker, group=str(group.id))
    assert "Only 2 more can be chosen (at most 100): choose some of them." in body
    driver.portal("post", picker.replace("/users/", "/users/add-from-group/"), {"group": str(group.id), "all": "1"})
    assert SelectedUser.objects.count() == MAX_SELECTED_USERS - 2
    assert "so 2 more can be added" in page(driver, picker)


def test_choosing_nothing_says_so(driver, picker):  # noqa: F811
    group = SimGroup.objects.first()
    assert group is not None
    driver.portal("post", picker.replace("/users/", "/users/add-from-group/"), {"group": str(group.id)})
    assert "Choose at least one user." in page(driver, picker)
    assert not SelectedUser.objects.exists()


def test_a_user_search_needs_two_characters(driver, picker):  # noqa: F811
    response = driver.portal("get", picker, {"user_q": "m"})
    assert response.status_code == 400
    assert "Enter at least 2 characters of the name." in response.content.decode()


def test_quotes_and_backslashes_in_a_user_search_are_escaped_for_graph(driver, picker, contoso):  # noqa: F811
    sim.add_user(contoso, user_principal_name="dana@contoso.onmicrosoft.com", display_name='Dana "DJ" Jones')
    assert labels(page(driver, picker, user_q='"DJ" dana')) == ['dana@contoso.onmicrosoft.com Dana "DJ" Jones']
    assert labels(page(driver, picker, user_q='\\" OR "userPrincipalName:a')) == []  # no clause of its own


@pytest.mark.parametrize("text", ["'", "<script>alert(1)</script>", "Q" * 121, "  \t  ", "\u202eselaS", "(", "\\"])
def test_hostile_user_searches_never_fail_and_add_no_one(driver, picker, text):  # noqa: F811
    response = driver.portal("get", picker, {"user_q": text})
    assert response.status_code in (200, 400)
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert not SelectedUser.objects.exists()
