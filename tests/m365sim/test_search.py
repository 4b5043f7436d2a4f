"""$search on the simulated /users and /groups, as Microsoft documents it for directory objects: an advanced query
(ConsistencyLevel: eventual) that matches words, not substrings, combined with $filter.

https://learn.microsoft.com/graph/search-query-parameter#using-search-on-directory-object-collections
"""

import pytest

from m365sim import services as sim
from m365sim.views.graph import search_tokens
from tests.m365sim.test_graph_endpoints import assert_graph_error
from tests.m365sim.tokens import app_token

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture
def search(m365sim, contoso_consented):
    token = app_token(m365sim, str(contoso_consented.id))
    browser = m365sim.browser()

    def search(collection: str, expression: str, *, headers: dict[str, str] = EVENTUAL, **params: str):
        return browser.get(
            f"{m365sim.url}/graph/v1.0/{collection}",
            params={"$search": expression, **params},
            headers={"Authorization": f"Bearer {token}", **headers},
        )

    return search


def names(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["displayName"] for item in response.json()["value"]}


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        # The examples of "Use the $search query parameter".
        ("hello world", {"hello", "world"}),
        ("HelloWorld", {"hello", "world"}),
        ("helloWORLD", {"hello", "world"}),
        ("HELLOworld", {"helloworld"}),
        ("HelloWORld", {"hello", "world"}),
        ("hello.world", {"hello", ".", "world", "helloworld"}),
        ("hello123world", {"hello", "123", "world"}),
        ("Training 18", {"training", "18"}),
    ],
)
def test_values_are_split_into_tokens_as_microsoft_documents(text, tokens):
    assert search_tokens(text) == tokens


@pytest.fixture
def groups(contoso_consented):
    for name in ("OneVideo Studio", "Video editors", "Contoso Videos", "Sales team", "Presales", "hello-world"):
        sim.add_group(contoso_consented, display_name=name, mail_enabled=name.startswith("Sales"))
    return contoso_consented


@pytest.mark.usefixtures("groups")
def test_a_group_is_found_by_the_words_of_its_name_in_any_order_and_case(search):
    assert names(search("groups", '"displayName:video"')) == {"OneVideo Studio", "Video editors", "Contoso Videos"}
    assert names(search("groups", '"displayName:studio OneVideo"')) == {"OneVideo Studio"}
    assert names(search("groups", '"displayName:TEAM sal"')) == {"Sales team"}


@pytest.mark.usefixtures("groups")
def test_search_matches_words_not_substrings(search):
    # "sales" is inside "Presales", but no word of it begins with "sales": icontains would find it, Graph does not.
    assert names(search("groups", '"displayName:sales"')) == {"Sales team"}
    assert names(search("groups", '"displayName:ideo"')) == set()


@pytest.mark.usefixtures("groups")
def test_words_joined_by_a_symbol_are_found_as_one(search):
    assert names(search("groups", '"displayName:helloworld"')) == {"hello-world"}


@pytest.mark.usefixtures("groups")
def test_clauses_combine_with_and_or_and_parentheses(search):
    either = search("groups", '"displayName:sales" OR "displayName:editors"')
    assert names(either) == {"Sales team", "Video editors"}
    both = search("groups", '"displayName:video" AND ("displayName:editors" OR "displayName:contoso")')
    assert names(both) == {"Video editors", "Contoso Videos"}


@pytest.mark.usefixtures("groups")
def test_search_is_combined_with_filter(search):
    assert names(search("groups", '"displayName:team"', **{"$filter": "mailEnabled eq true"})) == {"Sales team"}
    assert names(search("groups", '"displayName:video"', **{"$filter": "mailEnabled eq true"})) == set()


def test_other_properties_are_searched_as_starts_with(search, contoso_consented):
    sim.add_user(
        contoso_consented, user_principal_name="megan.bowen@contoso.onmicrosoft.com", display_name="Megan Bowen"
    )
    found = search("users", '"userPrincipalName:megan.b"')
    assert names(found) == {"Megan Bowen"}
    # startsWith, not words: the second part of the address finds nothing.
    assert names(search("users", '"userPrincipalName:bowen"')) == set()
    assert "Megan Bowen" in names(search("users", '"displayName:bow"'))


@pytest.mark.usefixtures("groups")
def test_a_search_without_consistency_level_eventual_is_refused(search):
    error = assert_graph_error(search("groups", '"displayName:sales"', headers={}), 400, "Request_UnsupportedQuery")
    assert "ConsistencyLevel: eventual" in error["message"]


@pytest.mark.parametrize(
    "expression",
    ["displayName:sales", '"displayName:sales', '"sales"', '"displayName:a" or "displayName:b"', '("displayName:a"'],
)
@pytest.mark.usefixtures("groups")
def test_a_malformed_search_is_refused(search, expression):
    assert_graph_error(search("groups", expression), 400, "Request_UnsupportedQuery")


@pytest.mark.usefixtures("groups")
def test_a_property_search_cannot_take_is_refused(search):
    error = assert_graph_error(search("groups", '"visibility:private"'), 400, "Request_UnsupportedQuery")
    assert "visibility" in error["message"]


def test_quotes_and_backslashes_are_escaped_inside_a_clause(search, contoso_consented):
    sim.add_group(contoso_consented, display_name='The "Q" team')
    assert names(search("groups", r'"displayName:\"Q\" team"')) == {'The "Q" team'}


def test_search_results_are_paged_with_the_search_kept(search, contoso_consented):
    for n in range(5):
        sim.add_group(contoso_consented, display_name=f"Paged group {n}")
    first = search("groups", '"displayName:paged"', **{"$top": "3"})
    assert len(first.json()["value"]) == 3
    next_link = first.json()["@odata.nextLink"]
    assert "$search" in next_link
