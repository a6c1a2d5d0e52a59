"""Property-based testing of the REST API from its own OpenAPI document (schemathesis).

Every operation is called with generated valid and invalid input: no 5xx, and invalid input is refused.
Operations that end the session (logout, password change, account deletion) are excluded here — they have
their own tests — so the generated calls stay authenticated.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection

from tests.relay_helpers import create_agent
from tests.servers import Api, ServerProcess, register


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[ServerProcess, Api]]:
    """A server and an account with an agent, for authenticated calls."""
    process = ServerProcess().start()
    api = register(process)
    create_agent(api)
    yield process, api
    process.stop()
    process.assert_no_traceback()
    shutil.rmtree(process.data_dir, ignore_errors=True)


def _operations(process: ServerProcess) -> list[Any]:
    """Every operation of the live OpenAPI document, minus the session-ending ones."""
    schema = schemathesis.openapi.from_url(process.url + "/openapi.json")
    skip = {
        ("POST", "/api/v1/auth/logout"),
        ("DELETE", "/api/v1/accounts/me"),
        ("PUT", "/api/v1/accounts/me"),
        ("PUT", "/api/v1/accounts/me/password"),
        ("GET", "/metrics"),
    }
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if (op.method.upper(), op.path) not in skip]


# The schemathesis pytest plugin does not run on this pytest; hypothesis drives its strategies directly.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_never_fails_and_refuses_invalid_input(
    target: tuple[ServerProcess, Api], mode: GenerationMode
) -> None:
    process, api = target
    headers = {"Authorization": f"Bearer {api.token}"}
    operations = _operations(process)
    assert len(operations) >= 14
    for operation in operations:

        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Any) -> None:
            response = case.call(base_url=process.url, headers=headers)
            case.validate_response(response, checks=[not_a_server_error, negative_data_rejection])

        try:
            call()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE, operation.label  # nothing invalid to send (no inputs)
