"""No input crashes the service: schemathesis generates requests from the service's own OpenAPI
document (valid and invalid ones) and checks every answer against it, over real HTTP."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import negative_data_rejection

from sandbox.server import SandboxServer
from service.api import create_app
from tests.service.conftest import ADMIN

EXAMPLES = 20


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_no_input_crashes_the_service(service, mode):
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with SandboxServer(create_app(service)) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) >= 10
        for operation in operations:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
            )
            def exercise(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
                # Every check, but that invalid input is always refused: a repeated query
                # parameter (?stream=a&stream=b) counts as invalid there, and the framework
                # takes the last value, a harmless reading.
                case.call_and_validate(headers=headers, excluded_checks=[negative_data_rejection])

            try:
                exercise()
            except Unsatisfiable:
                # An operation without inputs (/healthz) has no invalid request to make.
                assert mode is schemathesis.GenerationMode.NEGATIVE
