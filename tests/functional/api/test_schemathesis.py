"""schemathesis against ``/v2/openapi.json``, on the in-process WSGI app (a Node on temporary SQLite).

Every documented operation gets a bounded number of generated requests (``LEVANTE_SCHEMATHESIS_EXAMPLES``,
20 by default: the whole run stays well under a minute): no answer may be a 5xx, and each answer must
conform to the document (status code documented, content type, body schema). The operations of
Mistral's resources that Levante does not have are documented as answering 501: for them the 501
is the documented answer, the other checks still apply.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from levante.api.app import create_app  # noqa: E402
from levante.node import Node  # noqa: E402

EXAMPLES = int(os.environ.get("LEVANTE_SCHEMATHESIS_EXAMPLES", "20"))
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
CHECKS = [not_a_server_error, *CONFORMANCE]


@pytest.fixture(scope="module")
def wsgi_app(node: Node) -> Any:
    return create_app(node.config, node.services)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(wsgi_app: Any) -> Any:
    return schemathesis.openapi.from_wsgi("/v2/openapi.json", wsgi_app)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_conforming_answers(case: Any) -> None:
    documented_501 = "501" in case.operation.definition.raw.get("responses", {})
    case.call_and_validate(checks=CONFORMANCE if documented_501 else CHECKS)
