from tests.grant_driver import GrantDriver, driver, portal_client  # noqa: F401
