"""The CLI's tests share the client's server fixture."""

from tests.functional.client.conftest import server_url  # noqa: F401 - a fixture
