"""No input crashes the service: schemathesis generates requests from the service's own OpenAPI
document (valid and invalid ones) and checks every answer against it, over real HTTP."""

from __future__ import annotations

from typing import Any

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
NO_INPUTS = {"GET /healthz", "GET /readyz", "GET /metrics"}


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


# Hostile values for every text query parameter, and dates the databases cannot store.
HOSTILE_TEXT = ("a\x00b", "\x01", "line\nbreak", "tab\there", "del\x7f")
EDGE_DATES = ("9999-12-31", "0001-01-01", "10000-01-01")


def test_hostile_query_values_get_4xx_never_500(service):
    """NUL and control characters in every text query parameter, extreme dates in every date
    parameter, on both databases: schemathesis checks each answer against the document."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with SandboxServer(guarded_app(service)) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        tried = 0
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]
            for parameter in operation.definition.raw.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                kind = _kind(parameter.get("schema", {}))
                values = EDGE_DATES if kind == "date" else HOSTILE_TEXT if kind == "string" else ()
                for value in values:
                    case = operation.Case(
                        query={parameter["name"]: value}, path_parameters=_path_ids(operation)
                    )
                    response = case.call_and_validate(
                        headers=headers, excluded_checks=[negative_data_rejection]
                    )
                    assert 400 <= response.status_code < 500, (operation.path, parameter["name"], value)
                    tried += 1
        assert tried >= 30


def _kind(schema: dict[str, Any]) -> str:
    """string, date or other, through anyOf [X, null]."""
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("type") == "string":
            return "date" if option.get("format") in ("date", "date-time") else "string"
    return "other"


def _path_ids(operation: Any) -> dict[str, int]:
    return {p["name"]: 1 for p in operation.definition.raw.get("parameters", []) if p.get("in") == "path"}
