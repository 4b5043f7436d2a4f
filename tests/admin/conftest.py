import pytest
from django.test import Client

from support.staff import OPERATOR_GROUP, READ_ONLY_GROUP
from tests.admin.staff import mfa_client, staff_user


@pytest.fixture
def superuser_client(db) -> Client:  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return mfa_client(staff_user("root@casportal.test", superuser=True))


@pytest.fixture
def reader_staff(db):  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return staff_user("reader@casportal.test", group=READ_ONLY_GROUP)


@pytest.fixture
def operator_staff(db):  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return staff_user("operator@casportal.test", group=OPERATOR_GROUP)


@pytest.fixture
def reader_staff_client(reader_staff) -> Client:
    return mfa_client(reader_staff)


@pytest.fixture
def operator_client(operator_staff) -> Client:
    return mfa_client(operator_staff)
