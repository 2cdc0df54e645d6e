"""No input crashes the service: schemathesis generates requests from the service's own OpenAPI
document (valid and invalid ones) and checks every answer against it, over real HTTP."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import negative_data_rejection

from sandbox.server import SandboxServer
from service.api import guarded_app
from tests.service.conftest import ADMIN

# Real processes or many syncs: left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

EXAMPLES = 20
# Operations without parameters or body: no request to them can be invalid.
NO_INPUTS = {"GET /", "GET /healthz", "GET /readyz", "GET /metrics"}


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_no_input_crashes_the_service(service, mode):
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with SandboxServer(guarded_app(service)) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) >= 10
        without = {f"{op.method.upper()} {op.path}" for op in operations if not _has_inputs(op)}
        assert without == NO_INPUTS
        exercised = 0
        for operation in operations:
            if mode is schemathesis.GenerationMode.NEGATIVE and not _has_inputs(operation):
                continue

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
            )
            def exercise(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
                # Every check, but that invalid input is always refused: a repeated query
                # parameter (?stream=a&stream=b) counts as invalid there, and the framework
                # takes the last value, a harmless reading.
                case.call_and_validate(headers=headers, excluded_checks=[negative_data_rejection])

            exercise()
            exercised += 1
        expected = len(operations) - (len(NO_INPUTS) if mode is schemathesis.GenerationMode.NEGATIVE else 0)
        assert exercised == expected


def _has_inputs(operation) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("parameters")) or "requestBody" in raw
