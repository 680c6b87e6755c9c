"""schemathesis against the gateway's OpenAPI schema: generated requests (bounded) to a real uvicorn never get a 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from gateway.app import create_app
from tests.conftest import GatewayUnderTest

EXAMPLES = 12  # per operation: bounded, the suite shares two cores

# The schema the app generates (the same document `/openapi.json` serves, checked below), loaded at collection
# so each operation is its own test.
SCHEMA = schemathesis.openapi.from_dict(create_app().openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def test_the_served_schema_is_the_one_tested(gateway: GatewayUnderTest) -> None:
    served = httpx.get(f"{gateway.url}/openapi.json", timeout=30).json()
    assert served == create_app().openapi()
    assert len(OPERATIONS) >= 8


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_generated_requests_never_get_a_server_error(
    operation: schemathesis.APIOperation, gateway: GatewayUnderTest
) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=gateway.url, headers=gateway.auth(), timeout=30)
        case.validate_response(response, checks=[not_a_server_error])

    check()
